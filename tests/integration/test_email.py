"""Email classes (email.send, email.welcome, email.order_receipt) against a real SMTP server on
loopback (aiosmtpd), a real PostgreSQL with the app's tables and seed, and redis-server: the
messages the server received, the delivery rows, redelivery, and servers that refuse, hang,
are down, or want STARTTLS and AUTH."""
import email
import email.policy
import json
import os

import pytest

from conftest import SOURCE_DIR, load_app_sql, make_config, make_job, push, wait_for, zset_jobs
from smtp_peer import SmtpPeer, free_port

TEMPLATES = os.path.join(SOURCE_DIR, "conf", "templates")


@pytest.fixture
def pg(migrated_pg):
    load_app_sql(migrated_pg)
    return migrated_pg


@pytest.fixture
def peer():
    p = SmtpPeer().start()
    yield p
    p.stop()


def smtp_conf(url, **kw):
    settings = {"url": url, "starttls": "never", "templates": TEMPLATES, "timeout": "10s"}
    settings.update(kw)
    return "smtp = { %s };" % " ".join("%s = %s;" % (k, json.dumps(v))
                                       for k, v in settings.items())


def mail_nexusd(nexusd, pg, url, classes=(), env=None, **smtp):
    e = {"DATABASE_URL": pg.url}
    e.update(env or {})
    return nexusd(make_config(None, classes, smtp_conf(url, **smtp)), env=e)


def parse(received):
    """The message as a mail store keeps it: CRLF line ends turned into LF."""
    data = received.data.replace(b"\r\n", b"\n")
    return email.message_from_bytes(data, policy=email.policy.default)


def delivery(pg, jid):
    out = pg.psql("SELECT status, attempts, smtp_code, coalesce(smtp_reply, ''), "
                  "array_to_string(recipients, ','), coalesce(template, ''), message_id, "
                  "coalesce(error, '') FROM nexus.email_deliveries WHERE jid = '%s'" % jid).strip()
    if not out:
        return None
    keys = ("status", "attempts", "smtp_code", "smtp_reply", "recipients", "template",
            "message_id", "error")
    return dict(zip(keys, out.split("|")))


def retry_job(r, jid):
    found = wait_for(lambda: [j for j, _ in zset_jobs(r, "retry") if j["jid"] == jid],
                     what="the job in retry")
    return found[0]


def make_due(r, jid):
    for member, _ in r.zrange("retry", 0, -1, withscores=True):
        if json.loads(member)["jid"] == jid:
            r.zadd("retry", {member: 0})


def order_id(pg, buyer):
    return pg.psql("SELECT id FROM orders WHERE email = '%s'" % buyer).strip()


def test_send_delivers_a_multipart_message_and_records_it(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url)
    jid = push(r, "email.send", [{
        "to": ["Ada Lovelace <ada@example.com>", "linus@example.com"],
        "cc": "grace@example.com", "bcc": "audit@example.com",
        "subject": "Ünïcode & friends", "text": "Hello Ada,\n.\n..dots stay\n1+1=2\n",
        "html": "<p>Hello <b>Ada</b></p>"}])
    d.wait_jobs([jid])
    assert peer.count() == 1
    got = peer.messages[0]
    assert got.mail_from == "no-reply@example.com"
    assert sorted(got.rcpt_tos) == ["ada@example.com", "audit@example.com",
                                    "grace@example.com", "linus@example.com"]
    msg = parse(got)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == "Ünïcode & friends"
    assert msg["From"] == "Nexus Sales <no-reply@example.com>"
    assert msg["To"].addresses[0].display_name == "Ada Lovelace"
    assert msg["Cc"] == "grace@example.com"
    assert msg["Bcc"] is None and b"audit@" not in got.data
    assert msg["Message-ID"] == "<%s.nexus@example.com>" % jid
    assert msg["Date"] is not None
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == "Hello Ada,\n.\n..dots stay\n1+1=2\n"  # dot-stuffed
    assert parts[1].get_content().strip() == "<p>Hello <b>Ada</b></p>"
    row = wait_for(lambda: (delivery(pg, jid) or {}).get("status") == "sent" and
                   delivery(pg, jid), what="the delivery row to say sent")
    assert row["attempts"] == "1"
    assert row["smtp_code"] == "250"
    assert row["smtp_reply"] == "250 2.0.0 Ok: queued as 1"
    assert row["recipients"] == ("ada@example.com,linus@example.com,grace@example.com,"
                                 "audit@example.com")
    assert row["message_id"] == "%s.nexus@example.com" % jid


def test_many_jobs_in_parallel_each_send_one_message(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url)
    jids = [push(r, "email.send", [{"to": "user%d@example.com" % i, "subject": "n%d" % i,
                                    "text": "message %d" % i}]) for i in range(60)]
    d.wait_jobs(jids, timeout=60)
    assert peer.count() == 60
    ids = sorted(parse(m)["Message-ID"] for m in peer.messages)
    assert ids == sorted("<%s.nexus@example.com>" % j for j in jids)
    for m in peer.messages:  # each message went to its own recipient with its own text
        n = parse(m)["Subject"][1:]
        assert m.rcpt_tos == ["user%s@example.com" % n]
        assert parse(m).get_content() == "message %s\n" % n
    assert pg.psql("SELECT count(*) FROM nexus.email_deliveries WHERE status = 'sent'").strip() \
        == "60"


def test_send_with_a_template_escapes_values_in_html_only(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url)
    jid = push(r, "email.send", [{"to": "x@example.com", "template": "welcome",
                                  "vars": {"user": {"email": "<script>alert(1)</script>&"}}}])
    d.wait_jobs([jid])
    msg = parse(peer.messages[0])
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Your account <script>alert(1)</script>& is ready." in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in html
    assert "<script>" not in html
    assert msg["Subject"] == "Welcome to Nexus Sales"
    assert delivery(pg, jid)["template"] == "welcome"


def test_welcome_reads_the_user_from_postgres(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url)
    uid = int(pg.psql("SELECT id FROM users WHERE email = 'test@test.com'").strip())
    jid = push(r, "email.welcome", [uid])
    d.wait_jobs([jid])
    got = peer.messages[0]
    assert got.rcpt_tos == ["test@test.com"]
    msg = parse(got)
    assert msg["To"] == "test@test.com"
    assert "Your account test@test.com is ready." in msg.get_body(("plain",)).get_content()
    assert "<strong>test@test.com</strong>" in msg.get_body(("html",)).get_content()


def test_order_receipt_reads_the_order_and_its_product(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url)
    oid = order_id(pg, "ada@example.com")
    pg.psql("UPDATE orders SET name = 'Ada <Lovelace> & Co' WHERE id = '%s'" % oid)
    jid = push(r, "email.order_receipt", [oid])
    d.wait_jobs([jid])
    got = peer.messages[0]
    assert got.rcpt_tos == ["ada@example.com"]
    msg = parse(got)
    assert msg["Subject"] == "Your receipt for Launch Checklist"
    assert msg["To"].addresses[0].display_name == "Ada <Lovelace> & Co"
    assert msg["To"].addresses[0].addr_spec == "ada@example.com"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Hi Ada <Lovelace> & Co," in text
    assert "Amount:   $19.00" in text and "Status:   paid" in text and oid in text
    assert "A 40-page checklist for launching a digital product." in text
    assert "Hi Ada &lt;Lovelace&gt; &amp; Co," in html
    assert "<td>$19.00</td>" in html
    assert delivery(pg, jid)["template"] == "order_receipt"


def test_unknown_order_and_bad_args_fail_clearly_and_send_nothing(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url)
    missing = push(r, "email.order_receipt", ["00000000-0000-4000-8000-000000000000"])
    bad_id = push(r, "email.order_receipt", [42])
    no_to = push(r, "email.send", [{"subject": "x", "text": "y"}])
    unknown_tmpl = push(r, "email.send", [{"to": "a@example.com", "template": "nope"}])
    d.wait_jobs([missing, bad_id, no_to, unknown_tmpl], outcome="retry")
    assert retry_job(r, missing)["error_class"] == "NexusRecordNotFound"
    assert retry_job(r, missing)["error_message"] == "no order with this id in orders"
    assert retry_job(r, bad_id)["error_class"] == "ArgumentError"
    assert retry_job(r, no_to)["error_message"] == "args[0].to is missing"
    job = retry_job(r, unknown_tmpl)
    assert job["error_class"] == "NexusTemplateError"
    assert job["error_message"] == "no template 'nope' in %s" % TEMPLATES
    assert peer.count() == 0
    assert pg.psql("SELECT count(*) FROM nexus.email_deliveries").strip() == "0"


def test_header_injection_is_refused(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url)
    in_to = push(r, "email.send", [{"to": "a@example.com\r\nBcc: eve@example.com",
                                    "subject": "x", "text": "y"}])
    in_subject = push(r, "email.send", [{"to": "a@example.com",
                                         "subject": "Hi\r\nBcc: eve@example.com", "text": "y"}])
    oid = order_id(pg, "linus@example.com")
    pg.psql("UPDATE products SET name = E'Kit\\r\\nBcc: eve@example.com'")
    in_db = push(r, "email.order_receipt", [oid])
    d.wait_jobs([in_to, in_subject, in_db], outcome="retry")
    assert retry_job(r, in_to)["error_message"].startswith(
        "args[0].to: an email address must not contain control characters such as CR or LF")
    for jid in (in_subject, in_db):
        job = retry_job(r, jid)
        assert job["error_class"] == "ArgumentError"
        assert job["error_message"].startswith("the subject must not contain control characters")
    assert peer.count() == 0


def test_a_job_delivered_again_does_not_send_again(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url)
    job = make_job("email.send", [{"to": "a@example.com", "subject": "once", "text": "x"}])
    r.lpush("queue:default", json.dumps(job))
    d.wait_jobs([job["jid"]])
    wait_for(lambda: delivery(pg, job["jid"])["status"] == "sent", what="sent recorded")
    r.lpush("queue:default", json.dumps(job))  # redelivered, as after a crash
    wait_for(lambda: len(d.lines(event="job", jid=job["jid"], outcome="ok")) == 2,
             what="the second delivery to finish")
    assert d.lines(event="email_already_sent", jid=job["jid"])
    assert peer.count() == 1
    assert delivery(pg, job["jid"])["attempts"] == "1"
    # a crash after the server accepted and the row said so: only the row is left
    jid2 = "crashedafter0000000000001"
    pg.psql("INSERT INTO nexus.email_deliveries (jid, class, recipients, subject, message_id, "
            "status) VALUES ('%s', 'email.send', '{a@example.com}', 's', 'm@x', 'sent')" % jid2)
    push(r, "email.send", [{"to": "a@example.com", "subject": "s", "text": "x"}], jid=jid2)
    d.wait_jobs([jid2])
    assert peer.count() == 1


def test_a_stale_sending_row_is_taken_over_and_a_live_one_waits(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url, timeout="1s", connect_timeout="1s")
    insert = ("INSERT INTO nexus.email_deliveries (jid, class, recipients, subject, message_id, "
              "status, updated_at) VALUES ('%s', 'email.send', '{a@example.com}', 's', 'm@x', "
              "'sending', now() - interval '%d seconds')")
    pg.psql(insert % ("stale000000000000000000a", 3600))  # its process died mid-send
    pg.psql(insert % ("live0000000000000000000a", 0))     # another process is sending it
    spec = [{"to": "a@example.com", "subject": "s", "text": "x"}]
    push(r, "email.send", spec, jid="stale000000000000000000a")
    push(r, "email.send", spec, jid="live0000000000000000000a")
    d.wait_jobs(["stale000000000000000000a"])
    d.wait_jobs(["live0000000000000000000a"], outcome="deferred")
    assert delivery(pg, "stale000000000000000000a")["attempts"] == "2"
    assert peer.count() == 1


def test_refusing_server_means_retry_not_loss(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url)
    peer.mode = "refuse"
    busy = push(r, "email.send", [{"to": "a@example.com", "subject": "busy", "text": "x"}])
    d.wait_jobs([busy], outcome="retry")
    job = retry_job(r, busy)
    assert job["error_class"] == "Net::SMTPServerBusy"
    assert "451 4.3.0 Try again later" in job["error_message"]
    row = delivery(pg, busy)
    assert (row["status"], row["smtp_code"]) == ("failed", "451")
    peer.reply = "550 5.7.1 Message rejected"
    fatal = push(r, "email.send", [{"to": "b@example.com", "subject": "no", "text": "x"}])
    d.wait_jobs([fatal], outcome="retry")
    assert retry_job(r, fatal)["error_class"] == "Net::SMTPFatalError"
    assert peer.count() == 0
    peer.mode = "accept"
    make_due(r, busy)
    wait_for(lambda: d.lines(event="job", jid=busy, outcome="ok"), timeout=20,
             what="the retried job to be sent")
    assert peer.count() == 1
    row = delivery(pg, busy)
    assert (row["status"], row["attempts"], row["error"]) == ("sent", "2", "")


def test_hanging_server_fails_the_attempt_and_retries(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url, timeout="1500ms")
    peer.mode = "hang"
    jid = push(r, "email.send", [{"to": "a@example.com", "subject": "s", "text": "x"}])
    d.wait_jobs([jid], outcome="retry", timeout=20)
    job = retry_job(r, jid)
    assert job["error_class"] == "Net::ReadTimeout"
    assert delivery(pg, jid)["status"] == "failed"


def test_class_timeout_aborts_the_transfer_and_releases_the_claim(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url, classes=[{"name": "email.send", "timeout": "1s"}],
                    timeout="60s")
    peer.mode = "hang"
    jid = push(r, "email.send", [{"to": "a@example.com", "subject": "s", "text": "x"}])
    d.wait_jobs([jid], outcome="retry", timeout=20)
    assert retry_job(r, jid)["error_class"] == "NexusTimeout"
    row = wait_for(lambda: delivery(pg, jid)["status"] == "failed" and delivery(pg, jid),
                   what="the claim to be released")
    assert "cancelled" in row["error"]


def test_server_down_means_retry(pg, nexusd, r):
    d = mail_nexusd(nexusd, pg, "smtp://127.0.0.1:%d" % free_port())
    jid = push(r, "email.send", [{"to": "a@example.com", "subject": "s", "text": "x"}])
    d.wait_jobs([jid], outcome="retry")
    assert retry_job(r, jid)["error_class"] == "Errno::ECONNREFUSED"


def test_postgres_down_sends_nothing_and_retries(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer.url)
    first = push(r, "email.send", [{"to": "a@example.com", "subject": "s", "text": "x"}])
    d.wait_jobs([first])
    pg.stop()
    jid = push(r, "email.send", [{"to": "a@example.com", "subject": "s", "text": "x"}])
    d.wait_jobs([jid], outcome="retry", timeout=20)
    assert retry_job(r, jid)["error_class"] == "NexusDatabaseDown"
    assert peer.count() == 1


def test_starttls_and_auth(pg, nexusd, r, workdir):
    peer = SmtpPeer(tls_dir=workdir, auth=("mailer", "s3cret")).start()
    try:
        pw = os.path.join(workdir, "smtp-password")
        with open(pw, "w") as f:
            f.write("s3cret\n")
        os.chmod(pw, 0o600)  # a secret file open to others is refused
        d = mail_nexusd(nexusd, pg, peer.url, starttls="always", ca_file=peer.cert,
                        username="mailer", password_file=pw)
        jid = push(r, "email.send", [{"to": "a@example.com", "subject": "tls", "text": "x"}])
        d.wait_jobs([jid])
        assert peer.messages[0].login == "mailer"
        d.term()
        d.wait_exit()
        # SMTP_URL with other credentials wins over the file's URL
        bad = mail_nexusd(nexusd, pg, "smtp://127.0.0.1:1", starttls="always",
                          ca_file=peer.cert,
                          env={"SMTP_URL": "smtp://mailer:wrong@127.0.0.1:%d" % peer.port})
        jid = push(r, "email.send", [{"to": "a@example.com", "subject": "tls", "text": "x"}])
        wait_for(lambda: [j for j, _ in zset_jobs(r, "retry") if j["jid"] == jid],
                 what="the job in retry")
        assert retry_job(r, jid)["error_class"] == "Net::SMTPAuthenticationError"
        assert "wrong" not in d.text() + bad.text()
        assert peer.count() == 1
    finally:
        peer.stop()
