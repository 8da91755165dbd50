"""Secrets and bad input, end to end: passwords never printed (nexusd -t, refusals, libpq's
messages), secret files open to others refused, systemd credentials, SMTP AUTH never in clear
text (aiosmtpd without STARTTLS), nexusctl escaping what Redis holds, the rollup's jid quoted
in its log lines, PostgreSQL notices as log lines."""
import json
import os
import time

import pytest

from conftest import NEXUSCTL, NEXUSD, SANITIZER_MARKS, SOURCE_DIR, load_app_sql, make_config, \
    find_in_zset, make_job, push, run_cmd, wait_for
from pg import PostgresServer
from smtp_peer import SmtpPeer

TEMPLATES = os.path.join(SOURCE_DIR, "conf", "templates")
# the password in every URL below: none of its halves may ever be printed
PW_A, PW_B = "Pw4a9", "Xq7z2"


def assert_hidden(text):
    assert PW_A not in text and PW_B not in text, text


def check(conf=None, env=None, args=("-t",)):
    """nexusd -t (or `migrate`) with `env`; the CompletedProcess."""
    cmd = [NEXUSD] + (["-c", conf] if conf else []) + list(args)
    return no_reports(run_cmd(cmd, env=env, timeout=60))


def no_reports(res):
    for mark in SANITIZER_MARKS:
        assert mark not in res.stderr, res.stderr
    return res


@pytest.fixture
def pg(migrated_pg):
    load_app_sql(migrated_pg)
    return migrated_pg


# ---- passwords never printed -------------------------------------------------------------


def test_check_config_masks_redis_and_database_passwords():
    res = check(env={"REDIS_URL": "redis://:%s%s@127.0.0.1:6379/0" % (PW_A, PW_B),
                     "DATABASE_URL": "postgresql://app:%s@db/app?password=%s" % (PW_A, PW_B)})
    assert res.returncode == 0, res.stderr
    assert "redis: redis://***@127.0.0.1:6379/0" in res.stdout
    assert "database: postgresql://***@db/app?password=***" in res.stdout
    assert_hidden(res.stdout + res.stderr)


@pytest.mark.parametrize("var,url,shown", [
    ("REDIS_URL", "redis://:%s/%s@cache:6379/0", "redis://***@cache:6379/0"),
    ("REDIS_URL", "redis://:%s?%s@cache:6379/x", "redis://***@cache:6379/x"),
    ("REDIS_URL", "rediss://u:%s#%s@cache:6379", "rediss://***@cache:6379"),
    ("SMTP_URL", "smtp://user:%s/%s@mail:25", "smtp://***@mail:25"),
    ("SMTP_URL", "smtp://user:%s?%s@mail:25", "smtp://***@mail:25"),
])
def test_refused_urls_hide_a_password_holding_slash_or_question_mark(var, url, shown):
    res = check(env={var: url % (PW_A, PW_B)})
    assert res.returncode == 2
    assert '(got "%s")' % shown in res.stderr, res.stderr
    assert_hidden(res.stdout + res.stderr)


def test_database_url_errors_name_the_part_not_the_password(nexusd):
    # a bad %-escape: libpq's own message quoted the token, part of the password
    bad = "postgresql://app:%s%%zz%s@127.0.0.1:1/app" % (PW_A, PW_B)
    res = check(env={"DATABASE_URL": bad}, args=("migrate",))
    assert res.returncode != 0
    assert "a bad %-escape in the password at byte 23 of the URL" in res.stderr, res.stderr
    assert_hidden(res.stdout + res.stderr)
    d = nexusd(start=False, env={"DATABASE_URL": bad})
    d.start(wait_ready=False)
    assert d.wait_exit() != 0
    assert "a bad %-escape in the password" in d.text(), d.tail()
    assert_hidden(d.text())
    # a '/' in the password: libpq reads "Pw4a9" as the port and quotes it
    res = check(env={"DATABASE_URL": "postgresql://app:%s/%s@127.0.0.1:5432/app" % (PW_A, PW_B)},
                args=("migrate",))
    assert res.returncode != 0
    assert 'invalid integer value "***" for connection option "port"' in res.stderr, res.stderr
    assert_hidden(res.stdout + res.stderr)
    # key=value: a password written without its key
    res = check(env={"DATABASE_URL": "host=127.0.0.1 password=x %s" % PW_A}, args=("migrate",))
    assert res.returncode != 0 and 'missing "=" after "***"' in res.stderr, res.stderr
    assert_hidden(res.stdout + res.stderr)


# ---- secret files and credentials ----------------------------------------------------------


def write_secret(path, value, mode):
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("setting", ["http.token_file", "smtp.password_file",
                                     "emotion.token_file", "secret_file"])
def test_secret_files_open_to_others_are_refused(workdir, setting):
    path = write_secret(os.path.join(workdir, "secret"), "0123456789abcdef-token", 0o644)
    group, key = setting.split(".") if "." in setting else (None, setting)
    if group:
        conf_text = make_config(extra="%s = { %s = \"%s\"; };" % (group, key, path))
    else:
        conf_text = make_config(classes=[{"name": "app.hook", "url": "http://127.0.0.1:9/h",
                                          "secret_file": path}])
    conf = os.path.join(workdir, "nexusd.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    env = {"NEXUS_HTTP_TOKEN": "", "HF_API_TOKEN": "", "SMTP_PASSWORD": ""}
    res = check(conf, env=env)
    assert res.returncode == 2, res.stdout
    assert "%s: mode 0644 allows group/other read; chmod 600" % path in res.stderr, res.stderr
    assert "%s:" % conf in res.stderr  # FILE:LINE of the setting
    os.chmod(path, 0o600)
    res = check(conf, env=env)
    assert res.returncode == 0, res.stderr


def test_credentials_directory_stands_in_for_unset_variables(nexusd, workdir, redis_server, r):
    creds = os.path.join(workdir, "credentials")
    os.mkdir(creds, 0o700)
    for name, value in (("REDIS_URL", redis_server.url + "\n"),
                        ("NEXUS_HTTP_TOKEN", "0123456789abcdef-credential\n")):
        write_secret(os.path.join(creds, name), value.rstrip("\n"), 0o400)
    env = {"CREDENTIALS_DIRECTORY": creds, "REDIS_URL": "", "NEXUS_HTTP_TOKEN": ""}
    d = nexusd(env=env)  # reaches Redis through the credential only
    jid = push(r, "noop", [])
    d.wait_jobs([jid])
    # a variable that is set wins over the credential
    res = check(env={"CREDENTIALS_DIRECTORY": creds, "REDIS_URL": "redis://127.0.0.1:1/3"})
    assert "redis: redis://127.0.0.1:1/3" in res.stdout, res.stderr
    res = check(env={"CREDENTIALS_DIRECTORY": creds})
    assert "redis: %s" % redis_server.url in res.stdout, res.stderr


# ---- SMTP AUTH only over TLS ---------------------------------------------------------------


class RecordingPeer(SmtpPeer):
    """An SMTP server without STARTTLS that records every AUTH it is sent."""

    def __init__(self, **kw):
        self.auth_attempts = []
        super().__init__(**kw)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        self.auth_attempts.append(mechanism)
        return super()._authenticate(server, session, envelope, mechanism, auth_data)


def smtp_extra(url, **kw):
    settings = {"url": url, "templates": TEMPLATES, "timeout": "10s"}
    settings.update(kw)
    return "smtp = { %s };" % " ".join("%s = %s;" % (k, json.dumps(v))
                                       for k, v in settings.items())


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_is_never_sent_without_tls_unless_allowed(pg, nexusd, r, workdir):
    peer = RecordingPeer(auth=("mailer", "s3cret")).start()
    try:
        env = {"DATABASE_URL": pg.url, "SMTP_PASSWORD": "s3cret"}
        # starttls = "try" (the default) against a server without STARTTLS
        d = nexusd(make_config(extra=smtp_extra(peer.url, username="mailer")), env=env)
        jid = push(r, "email.send", [{"to": "a@example.com", "subject": "s", "text": "x"}],
                   retry=False)
        d.wait_jobs([jid], outcome="dead", timeout=30)
        # the line is written when the job ends, the dead entry when its outcome call returns
        job, _ = wait_for(lambda: find_in_zset(r, "dead", jid), what="the job in dead")
        assert job["error_class"] == "Net::SMTPUnsupportedCommand", job
        assert "offers no STARTTLS and AUTH is never sent in clear text" in job["error_message"]
        assert peer.auth_attempts == [] and peer.count() == 0
        d.term()
        d.wait_exit()
        # "never" with credentials is refused at start, naming the setting
        conf = os.path.join(workdir, "never.conf")
        with open(conf, "w") as f:
            f.write(make_config(extra=smtp_extra(peer.url, username="mailer",
                                                 starttls="never")))
        res = check(conf, env=env)
        assert res.returncode == 2
        assert 'smtp.starttls = "never" would send the SMTP credentials in clear text' \
            in res.stderr, res.stderr
        # allowed explicitly: AUTH goes, in clear text, and the message is sent
        d = nexusd(make_config(extra=smtp_extra(peer.url, username="mailer",
                                                allow_plaintext_auth=True)), env=env)
        jid = push(r, "email.send", [{"to": "a@example.com", "subject": "s", "text": "x"}])
        d.wait_jobs([jid], timeout=30)
        assert peer.auth_attempts and peer.messages[0].login == "mailer"
        assert "s3cret" not in d.text()
    finally:
        peer.stop()


# ---- nexusctl and Redis data -----------------------------------------------------------------


def ctl(redis_server, *args):
    env = dict(os.environ)
    env["REDIS_URL"] = redis_server.url
    return no_reports(run_cmd([NEXUSCTL] + list(args), env=env))


def test_nexusctl_escapes_control_characters_from_redis(r, redis_server):
    # ESC sequences (a title change, a screen clear), BEL, DEL and C1 CSI (U+009B) as a
    # Sidekiq client may store them: JSON escapes and raw UTF-8 alike
    evil = "x\x1b]0;pwned\x07\x1b[2J\x7f\u009b31m"
    job = make_job("evil\x1b[31m.class", ["\u009b2J", "\x7f"], error_class="E\x1b[5m",
                   error_message=evil, failed_at=time.time())
    text = json.dumps(job, ensure_ascii=False)  # C1 and DEL raw, ESC and BEL as \u escapes
    r.zadd("dead", {text: time.time()})
    r.zadd("dead", {b"not json \x1b[2J \xff\xfe \xc2\x9b": time.time() + 1})
    outputs = []
    for args in (("dead", "list"), ("dead", "show", job["jid"]), ("stats",),
                 ("dead", "show", job["jid"], "--json")):
        res = ctl(redis_server, *args)
        assert res.returncode == 0, (args, res.stderr)
        outputs.append(res.stdout + res.stderr)
    for out in outputs:
        for raw in ("\x1b", "\x07", "\x7f", "\u009b", "\ufffd"):
            assert raw not in out, (raw, out)
    # show keeps the stored JSON, C1 and DEL written as JSON escapes
    shown = outputs[1]
    assert "\\u009b2J" in shown and "\\u007f" in shown and "\\u001b]0;pwned" in shown, shown
    # error sentences are escaped too (here one that quotes the command line)
    res = ctl(redis_server, "dead", "show", "no\x1bjid")
    assert res.returncode == 3 and "\x1b" not in res.stdout + res.stderr, res.stderr


# ---- log lines ---------------------------------------------------------------------------


def test_rollup_logs_its_jid_quoted(pg, nexusd, r):
    d = nexusd(make_config(extra='analytics = { tz = "UTC"; };'), env={"DATABASE_URL": pg.url})
    jid = 'a"b=c\\d'  # printable ASCII without spaces: a valid jid
    push(r, "analytics.rollup", ["2026-11-20"], jid=jid)
    d.wait_jobs([jid], timeout=60)
    wait_for(lambda: d.lines(event="rollup", jid=jid), what="the rollup line")
    for line in d.text().splitlines():
        if "event=rollup" in line:
            assert 'jid="a\\"b=c\\\\d"' in line, line


def test_migrate_logs_postgresql_notices_instead_of_printing_them():
    server = PostgresServer().start()
    try:
        server.psql("CREATE SCHEMA nexus")  # the first migration then says "already exists"
        res = no_reports(run_cmd([NEXUSD, "migrate"], env={"DATABASE_URL": server.url},
                                 timeout=60))
        assert res.returncode == 0, res.stderr
        assert "NOTICE:" not in res.stderr, res.stderr
    finally:
        server.cleanup()
