"""The job classes that need PostgreSQL, SMTP or an HTTP API, under valgrind's memcheck: one
nexusd, from start to a clean stop, through the email classes over STARTTLS and AUTH (sent,
refused with a 4xx, a hanging server cut by the class timeout), emotion.analyze (fresh,
cached, deferred by a 503 and a 429, garbage, too slow), analytics.rollup, command classes
(ok, failed, cut by their timeout), sql classes (ok, cut by their timeout) with the job
history, the outbox relay, bad arguments for each class, dashboard actions, a reload that
re-reads the secrets and templates while jobs are in flight, PostgreSQL stopped and started
again while jobs run, and a stop with a job of each kind in flight. No memory error, no
definite or indirect leak.

Servers: a real PostgreSQL (migrated, plus the app's schema and seed), a real SMTP peer on
loopback (aiosmtpd), redis-server, and fake_hf.FakeHF for the one API that cannot run here."""
import json
import os
import shutil
import signal
import time

import pytest

from conftest import SOURCE_DIR, conf_value, make_config, push, wait_for, zset_jobs
from fake_hf import FakeHF
from httpc import get, http_address, request
from smtp_peer import SmtpPeer

pytestmark = [
    pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind missing"),
    pytest.mark.skipif("asan" in os.environ.get("NEXUSD", ""),
                       reason="the sanitizer build is checked by ASan itself"),
]

TEMPLATES = os.path.join(SOURCE_DIR, "conf", "templates")
TOKEN = "vg-dashboard-token-3b8e41f2a9c6"
TOKEN2 = "vg-dashboard-token-after-reload-77d0"
EMAILS = ("email.send", "email.welcome", "email.order_receipt")
ROWS = {"name": "rows.add", "sql": "INSERT INTO vg_rows (n, note) VALUES ($1, $2)",
        "args": "int, text", "max_retries": 5}


@pytest.fixture
def pg(migrated_pg):
    for name in ("schema.sql", "seed.sql"):
        with open(os.path.join(SOURCE_DIR, "sql", "app", name)) as f:
            migrated_pg.psql(f.read())
    migrated_pg.psql("CREATE TABLE vg_rows (id bigserial PRIMARY KEY, n integer NOT NULL, "
                     "note text)")
    return migrated_pg


@pytest.fixture
def peer(workdir):
    p = SmtpPeer(tls_dir=workdir, auth=("mailer", "s3cret")).start()
    yield p
    p.stop()


@pytest.fixture
def fake():
    with FakeHF() as server:
        yield server


def secret_file(workdir, name, value):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
    return path


def config(workdir, peer, fake):
    # the hanging messages must reach DATA before their timeout even on a loaded machine
    # (TLS and AUTH under valgrind are slow)
    classes = [{"name": c, "timeout": "20s", "max_retries": 3} for c in EMAILS]
    classes += [
        {"name": "emotion.analyze", "max_retries": 5},
        {"name": "vg.cmd.ok", "command": ["sh", "-c", "echo hello; echo warn >&2"],
         "workdir": workdir},
        {"name": "vg.cmd.fail", "command": ["sh", "-c", "echo oops >&2; exit 3"],
         "max_retries": 0},
        {"name": "vg.cmd.hang", "command": ["sh", "-c", "exec sleep 1000"], "timeout": "3s",
         "kill_grace": "1s", "max_retries": 0},
        {"name": "vg.cmd.long", "command": ["sh", "-c", "sleep 4; echo done"],
         "timeout": "60s"},
        {"name": "vg.cmd.missing", "command": ["no-such-program-nexus"], "max_retries": 0},
        ROWS,
        {"name": "vg.sql.slow", "sql": "SELECT pg_sleep($1)", "args": "float", "timeout": "2s",
         "max_retries": 0},
        {"name": "vg.sql.long", "sql": "SELECT pg_sleep($1)", "args": "float", "timeout": "60s"},
    ]
    extra = "\n".join([
        "smtp = %s;" % conf_value({
            "url": peer.url, "starttls": "always", "ca_file": peer.cert, "username": "mailer",
            "password_file": secret_file(workdir, "smtp-password", "s3cret"),
            "templates": os.path.join(workdir, "templates"), "timeout": "60s"}),
        "emotion = %s;" % conf_value({
            "url": fake.url, "timeout": "5s", "max_response": 65536,
            "token_file": secret_file(workdir, "hf-token", fake.token)}),
        'analytics = { tz = "UTC"; };',
        "http = %s;" % conf_value({"listen": "127.0.0.1:0",
                                   "token_file": secret_file(workdir, "http-token", TOKEN)}),
    ])
    return make_config({"concurrency": 16, "shutdown_timeout": "0.5s"}, classes, extra)


def in_set(r, key, jid):
    return next((j for j, _ in zset_jobs(r, key) if j["jid"] == jid), None)


def failed(r, jid, key="dead"):
    """The failed job `jid` in `key`, once its outcome write landed."""
    return wait_for(lambda: in_set(r, key, jid), timeout=30, what="job %s in %s" % (jid, key))


def make_due(r, jids, at=0):
    """Moves these jobs of `retry` to `at` (0: due now)."""
    for member in r.zrange("retry", 0, -1):
        if json.loads(member)["jid"] in jids:
            r.zadd("retry", {member: at})


def bearer(token):
    return {"Authorization": "Bearer " + token}


def count(pg, sql):
    return int(pg.psql(sql).strip())


def test_job_classes_with_postgres_smtp_and_http_are_clean_under_valgrind(
        nexusd, r, pg, peer, fake, workdir):
    vg_log = os.path.join(workdir, "valgrind.log")
    shutil.copytree(TEMPLATES, os.path.join(workdir, "templates"))
    d = nexusd(config(workdir, peer, fake), start=False,
               env={"DATABASE_URL": pg.url, "HF_API_TOKEN": "", "NEXUS_HTTP_TOKEN": "",
                    "SMTP_URL": "", "SMTP_PASSWORD": ""})
    d.wrapper = ["valgrind", "--error-exitcode=9", "--leak-check=full",
                 "--errors-for-leak-kinds=definite,indirect", "--child-silent-after-fork=yes",
                 "--log-file=" + vg_log]
    d.start(timeout=90)
    d.wait_log(r"event=db_up ", timeout=60)
    addr = http_address(d, timeout=30)

    # email: each class sent, then refused with a 4xx, then cut by its timeout on a hang
    oid = pg.psql("SELECT id FROM orders WHERE email = 'ada@example.com'").strip()
    uid = int(pg.psql("SELECT id FROM users WHERE email = 'test@test.com'").strip())
    mail_args = {"email.send": [{"to": "a@example.com", "subject": "vg", "text": "hi",
                                 "html": "<p>hi</p>"}],
                 "email.welcome": [uid], "email.order_receipt": [oid]}
    sent = [push(r, c, mail_args[c]) for c in EMAILS]
    d.wait_jobs(sent, timeout=60)
    assert peer.count() == 3 and {m.login for m in peer.messages} == {"mailer"}
    peer.mode = "refuse"
    refused = [push(r, c, mail_args[c]) for c in EMAILS]
    d.wait_jobs(refused, outcome="retry", timeout=60)
    assert {failed(r, j, "retry")["error_class"] for j in refused} == {"Net::SMTPServerBusy"}
    make_due(r, refused, at=time.time() + 3600)  # until the dashboard runs them
    peer.mode = "hang"
    hung = [push(r, c, mail_args[c], retry=False) for c in EMAILS]
    # DATA of the 3 sent, the 3 refused and the 3 hanging ones
    wait_for(lambda: peer.data_commands >= 9, timeout=60, what="the hung messages")
    # a reload while they hang, with a new dashboard token and a new SMTP password: the
    # old secrets are let go, the templates read again
    secret_file(workdir, "http-token", TOKEN2)
    secret_file(workdir, "smtp-password", "n3w-s3cret")
    peer.auth = ("mailer", "n3w-s3cret")
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded", timeout=60)

    # meanwhile: emotion fresh, from the cache, deferred (503, 429), garbage, too slow
    fake.script("the model is loading", ("loading", 3600.0))
    fake.script("rate limited", ("rate_limited", "1"))
    fake.script("garbage please", ("invalid_json",))
    fake.script("wrong shape", ("wrong_shape",))
    fake.script("a huge answer", ("huge", 1))
    fake.script("closed", ("close",), ("close",))
    fake.script("a slow answer", ("slow", 20))
    fresh = push(r, "emotion.analyze", ["I am so happy with my order", "review:1"])
    d.wait_jobs([fresh], timeout=60)
    cached = push(r, "emotion.analyze", [{"text": "I am so happy with my order"}])
    loading = push(r, "emotion.analyze", ["the model is loading"])
    limited = push(r, "emotion.analyze", ["rate limited"])
    garbage = {text: push(r, "emotion.analyze", [text], retry=False)
               for text in ("garbage please", "wrong shape", "a huge answer", "closed",
                            "a slow answer")}
    # rollups (with malformed counters), command classes, sql classes, the outbox relay
    r.mset({"funnel:signup:step:%d:2026-11-20" % s: 10 * s for s in range(4)})
    r.mset({"funnel:signup:step:x:2026-11-20": 1, "funnel:signup:step:9:2026-11-20": "nine"})
    rollup = push(r, "analytics.rollup", ["2026-11-20"])
    today = push(r, "analytics.rollup", [])
    cmd_ok, cmd_fail, cmd_hang = (push(r, "vg.cmd." + k, []) for k in ("ok", "fail", "hang"))
    rows = [push(r, "rows.add", [i, "vg %d" % i]) for i in range(5)]
    sql_slow = push(r, "vg.sql.slow", [30])
    relayed = pg.psql("SELECT nexus.enqueue('noop', '[1, \"x\"]')").strip()
    # bad arguments, for each class: a clear error, straight to dead
    bad = [push(r, cls, args, retry=False) for cls, args in [
        ("email.send", [{"subject": "x", "text": "y"}]),
        ("email.send", [{"to": "a@example.com", "template": "nope"}]),
        ("email.send", [{"to": "a@example.com\r\nBcc: eve@example.com", "subject": "x",
                         "text": "y"}]),
        ("email.welcome", ["x"]),
        ("email.welcome", [987654321]),
        ("email.order_receipt", ["00000000-0000-4000-8000-000000000000"]),
        ("email.order_receipt", [42]),
        ("emotion.analyze", []),
        ("emotion.analyze", [{"text": 42}]),
        ("analytics.rollup", ["2026-11-24", "2026-11-01"]),
        ("analytics.rollup", [20261124]),
        ("rows.add", ["seven", "x"]),
        ("vg.cmd.missing", []),
    ]]

    d.wait_jobs([cached, limited, rollup, today, cmd_ok, relayed] + rows, timeout=60)
    d.wait_jobs([loading], outcome="deferred", timeout=60)
    d.wait_jobs([cmd_fail, cmd_hang, sql_slow] + hung + list(garbage.values()) + bad,
                outcome="dead", timeout=60)
    assert len(fake.requests_for("I am so happy with my order")) == 1  # the cache answered
    assert len(fake.requests_for("rate limited")) == 2
    assert d.lines(event="job", jid=limited, outcome="deferred")
    assert {text: failed(r, jid)["error_class"] for text, jid in garbage.items()} == {
        "garbage please": "NexusEmotionBadAnswer", "wrong shape": "NexusEmotionBadAnswer",
        "a huge answer": "NexusEmotionBadAnswer", "closed": "NexusEmotionUnreachable",
        "a slow answer": "NexusEmotionTimeout"}
    for jid in hung + [cmd_hang, sql_slow]:
        job = failed(r, jid)
        assert job["error_class"] == "NexusTimeout", job
    assert all(failed(r, jid)["error_message"] for jid in bad)
    assert failed(r, bad[-1])["error_class"] == "NexusCommandNotStarted"
    assert count(pg, "SELECT count(*) FROM nexus.funnel_daily") == 4
    assert count(pg, "SELECT count(*) FROM nexus.sales_daily") >= 1
    assert count(pg, "SELECT count(*) FROM vg_rows") == 5
    assert count(pg, "SELECT count(*) FROM nexus.email_deliveries WHERE status = 'sent'") == 3
    wait_for(lambda: count(pg, "SELECT count(*) FROM nexus.command_runs") >= 4, timeout=30,
             what="the command runs recorded")
    wait_for(lambda: count(pg, "SELECT count(*) FROM nexus.job_history WHERE "
                               "class = 'rows.add'") == 6, timeout=30, what="history rows")

    # the dashboard: reads, refused actions (no token, the token before the reload), a dead
    # job retried with the token read at the reload, a queue paused and resumed
    dead = push(r, "fail", ["to be retried"], retry=False)
    d.wait_jobs([dead], outcome="dead", timeout=60)
    failed(r, dead)
    assert get(addr, "/", timeout=30).status == 200
    assert get(addr, "/api/dead?limit=50", timeout=30).json()["size"] >= 20
    for read in ("/api/retry", "/api/paused", "/api/auth", "/dashboard/app.js"):
        assert get(addr, read, timeout=30).status == 200, read
    path = "/api/dead/%s/retry" % dead
    assert request(addr, "POST", path, timeout=30).status == 401
    assert request(addr, "POST", path, timeout=30, headers=bearer(TOKEN)).status == 401
    res = request(addr, "POST", path, timeout=30, headers=bearer(TOKEN2))
    assert res.status == 200, res.body
    wait_for(lambda: len(d.lines(event="job", jid=dead, outcome="dead")) == 2, timeout=60,
             what="the retried job to run again")
    for action in ("pause", "resume"):
        res = request(addr, "POST", "/api/queues/default/" + action, timeout=30,
                      headers=bearer(TOKEN2))
        assert res.status == 200, res.body
    assert request(addr, "DELETE", "/api/dead/" + bad[0], timeout=30,
                   headers=bearer(TOKEN2)).status == 200

    # reloads refused (a broken template, a token with a space), then one that works
    subject = os.path.join(workdir, "templates", "welcome.subject")
    with open(subject) as f:
        good_subject = f.read()
    with open(subject, "w") as f:
        f.write("Welcome {{ user.email\n")
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reload_refused", timeout=60)
    with open(subject, "w") as f:
        f.write(good_subject)
    secret_file(workdir, "http-token", "a token with spaces")
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reload_refused", timeout=60, count=2)
    secret_file(workdir, "http-token", TOKEN2)
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded", timeout=60, count=2)

    # the refused messages run now from the dashboard, with the password read at the reload
    peer.mode = "accept"
    for jid in refused:
        res = request(addr, "POST", "/api/retry/%s/run" % jid, timeout=30,
                      headers=bearer(TOKEN2))
        assert res.status == 200, res.body
    d.wait_jobs(refused, timeout=60)
    assert peer.count() == 6

    # PostgreSQL stopped while a command runs and jobs arrive, then started again
    long_cmd = push(r, "vg.cmd.long", [])
    wait_for(lambda: d.lines(event="command_start", jid=long_cmd), timeout=60,
             what="the long command to start")
    pg.stop()
    down = [push(r, "rows.add", [100, "down"]),
            push(r, "email.send", [{"to": "b@example.com", "subject": "s", "text": "x"}]),
            push(r, "emotion.analyze", ["while the database is down"]),
            push(r, "analytics.rollup", [])]
    d.wait_jobs(down, outcome="retry", timeout=60)
    assert {failed(r, j, "retry")["error_class"] for j in down} == {"NexusDatabaseDown"}
    d.wait_jobs([long_cmd], timeout=60)
    pg.start()
    wait_for(lambda: len(d.lines(event="db_up")) >= 2, timeout=60,
             what="the pool to reconnect")
    make_due(r, down)
    d.wait_jobs(down, timeout=60)
    after = pg.psql("SELECT nexus.enqueue('noop', '[2]')").strip()
    d.wait_jobs([after], timeout=60)

    # the stop with a job of each kind in flight: each is cancelled and requeued
    peer.mode = "hang"
    fake.script("still thinking", ("slow", 20))
    sent_before = peer.data_commands
    busy = [push(r, "email.send", [{"to": "c@example.com", "subject": "s", "text": "x"}]),
            push(r, "emotion.analyze", ["still thinking"]),
            push(r, "vg.cmd.long", []), push(r, "vg.sql.long", [30])]
    wait_for(lambda: peer.data_commands > sent_before and fake.requests_for("still thinking")
             and d.lines(event="command_start", jid=busy[2])
             and count(pg, "SELECT count(*) FROM pg_stat_activity WHERE "
                           "query LIKE 'SELECT pg_sleep%'") == 1,
             timeout=60, what="a job of each kind in flight")

    d.term()
    assert d.wait_exit(120) == 0, open(vg_log).read()[-3000:]
    assert {e["jid"] for e in d.lines(event="job_interrupted")} == set(busy)
    report = open(vg_log).read()
    assert "ERROR SUMMARY: 0 errors" in report, report[-3000:]
    assert "definitely lost: 0 bytes" in report or "All heap blocks were freed" in report, \
        report[-3000:]
    assert "indirectly lost: 0 bytes" in report or "All heap blocks were freed" in report, \
        report[-3000:]
