"""A reload (SIGHUP) while an email job runs: the job keeps the configuration it started with
(SMTP server, sender) to its end, and the next job takes the new one. Run against an ASan build
this also shows that the old configuration is not freed under the running job."""
import os
import signal
import subprocess

from conftest import make_config, push, wait_for
from smtp_peer import SmtpPeer
from test_email import mail_nexusd, parse, pg, peer, smtp_conf  # noqa: F401 (fixtures)

OLD_FROM = "Old Sender <old@example.com>"
NEW_FROM = "New Sender <new@example.com>"
SPEC = [{"to": "a@example.com", "subject": "s", "text": "x"}]


def reload_to(d, url):
    """Rewrites the config with another SMTP server and sender, and reloads it."""
    d.write_config(make_config(None, (), smtp_conf(url, **{"from": NEW_FROM, "timeout": "5s"})))
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded", timeout=20)
    assert not d.lines(event="reload_refused")


def assert_sent_with_the_old_settings(peer, other):
    assert (peer.count(), other.count()) == (1, 0)
    assert peer.messages[0].mail_from == "old@example.com"
    assert parse(peer.messages[0])["From"] == OLD_FROM


def assert_next_job_takes_the_new_settings(d, r, other):
    later = push(r, "email.send", SPEC)
    d.wait_jobs([later])
    assert other.count() == 1
    assert other.messages[0].mail_from == "new@example.com"
    assert parse(other.messages[0])["From"] == NEW_FROM


def test_a_reload_during_the_smtp_exchange_leaves_the_job_its_settings(pg, nexusd, r, peer):
    other = SmtpPeer().start()
    try:
        d = mail_nexusd(nexusd, pg, peer.url, **{"from": OLD_FROM})
        peer.mode = "hold"
        jid = push(r, "email.send", SPEC)
        wait_for(lambda: peer.data_commands == 1, timeout=20, what="the message's DATA")
        reload_to(d, other.url)
        peer.release.set()
        d.wait_jobs([jid])
        assert_sent_with_the_old_settings(peer, other)
        assert_next_job_takes_the_new_settings(d, r, other)
    finally:
        other.stop()


def locker(pg, sql):
    """A psql session running `sql` in the background (application_name nexus_test_locker)."""
    env = dict(os.environ, PGAPPNAME="nexus_test_locker")
    return subprocess.Popen([os.path.join(pg.bindir, "psql"), "-X", "-q", "-h", pg.dir, "-p",
                             str(pg.port), "-U", "postgres", "-d", "postgres", "-c", sql],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_a_reload_while_the_job_waits_on_its_claim_leaves_it_its_settings(pg, nexusd, r, peer):
    """The job builds its message, then waits on PostgreSQL for its delivery row (locked by
    another session) while the reload swaps the configuration; only then it connects and sends:
    to the server, and with the envelope sender, of the configuration it started with."""
    other = SmtpPeer().start()
    jid = "reload00000000000000000a"
    pg.psql("INSERT INTO nexus.email_deliveries (jid, class, recipients, subject, message_id, "
            "status) VALUES ('%s', 'email.send', '{a@example.com}', 's', 'm@x', 'failed')" % jid)
    lock = locker(pg, "BEGIN; SELECT 1 FROM nexus.email_deliveries WHERE jid = '%s' FOR UPDATE; "
                      "SELECT pg_sleep(120); COMMIT;" % jid)
    try:
        wait_for(lambda: pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name "
                                 "= 'nexus_test_locker' AND wait_event = 'PgSleep'").strip()
                 == "1", timeout=20, what="the delivery row locked")
        d = mail_nexusd(nexusd, pg, peer.url, **{"from": OLD_FROM})
        push(r, "email.send", SPEC, jid=jid)
        wait_for(lambda: pg.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                 "'Lock' AND query LIKE '%email_deliveries%'").strip() == "1",
                 timeout=20, what="the job's claim waiting on the lock")
        reload_to(d, other.url)
        pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'nexus_test_locker'")
        d.wait_jobs([jid])
        assert_sent_with_the_old_settings(peer, other)
        assert_next_job_takes_the_new_settings(d, r, other)
    finally:
        lock.kill()
        lock.wait(10)
        other.stop()
