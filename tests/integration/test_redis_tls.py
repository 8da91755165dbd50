"""nexusd and nexusctl over rediss:// against Debian's redis-server with --tls-port and a CA
made by openssl in the test (redis_topo.Pki): the right CA, a wrong CA, a client certificate
required, a name mismatch, an expired certificate, a plain-text server behind a rediss://
URL, tls_verify = false; every failure is one clear line naming the URL (password masked)
and what failed, nexusd keeps retrying, and no secret is ever shown. Also: the config
examples of docs/redis.md load with `nexusd -t`."""
import os
import re
import tempfile

import pytest

from conftest import (NEXUSCTL, NEXUSD, SOURCE_DIR, NexusdFactory, make_config, push, run_cmd,
                      stays)
from redis_topo import (plain_tcp_redis, redis_cli_tls, tls_conf, tls_redis, tls_set_cert,
                        transport_missing)

PASSWORD = "tls-s3cret-9f1e"
MISSING = transport_missing(NEXUSD, tempfile.mkdtemp(prefix="nxprobe-"))
needs_transport = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def with_password(server):
    """The server's rediss:// URL with the password in it (and the server requiring it)."""
    server.args += ["--requirepass", PASSWORD]
    server.password = PASSWORD
    server.url = server.url.replace("rediss://", "rediss://:%s@" % PASSWORD)
    return server


def masked(server):
    """How the server's URL must look in messages: credentials hidden (lib/urlmask.h)."""
    hidden = r"\*+@" if "@" in server.url else ""
    return re.compile(r"rediss://%s127\.0\.0\.1:%d" % (hidden, server.port))


@pytest.fixture
def redis_server(workdir, tls_pki):
    """Here the default server serves TLS (the good certificate, no client certificate) and
    requires a password; the test's own clients use its unix socket."""
    server = with_password(tls_redis(workdir, tls_pki)).start()
    yield server
    server.close_clients()
    server.kill()


@pytest.fixture
def servers():
    """More servers for one test, killed at teardown."""
    started = []

    def start(server):
        started.append(server)
        return server.start()
    yield start
    for s in started:
        s.close_clients()
        s.kill()


@pytest.fixture
def nexusd_on(workdir):
    """nexusd_on(server): a nexusd factory for another server than the test's own (its URL
    in REDIS_URL, its clients for the readiness check). Give each process a distinct name."""
    factories = []

    def on(server):
        factories.append(NexusdFactory(workdir, server))
        return factories[-1]
    yield on
    for f in factories:
        f.finish()


def ctl(conf, url, *args):
    res = run_cmd([NEXUSCTL, "-c", conf] + list(args), env={"REDIS_URL": url})
    assert PASSWORD not in res.stdout + res.stderr
    return res


def failing(factory, server, pki, what, name="failing", **tls):
    """A nexusd of `factory` (bound to `server`) that must not get through: returns it and
    its first line naming `what` (a regex), after checking that line names the masked URL
    and that it keeps trying. A second's connect timeout: a plain server never answers a
    TLS hello."""
    tls.setdefault("connect_timeout", 1.0)
    n = factory(make_config(extra=tls_conf(pki, **tls)), name=name, start=False)
    n.start(wait_ready=False)
    line = n.wait_log(r"(?i)" + what, timeout=15)[0]
    assert masked(server).search(line), line
    assert PASSWORD not in n.text()
    assert stays(lambda: n.alive() and "event=redis_up" not in n.text(), 1.5), n.tail()
    return n, line


# ---- the set-up, with the reference client --------------------------------------------------


def test_the_tls_server_is_what_redis_cli_expects(redis_server, tls_pki, servers, workdir):
    """Debian's redis-server 7.0 is built with TLS; redis-cli accepts the right CA and
    refuses the wrong one, a client without certificate where one is required, and an
    expired certificate."""
    port = redis_server.port
    ok = redis_cli_tls(tls_pki, port, "-a", PASSWORD, "--no-auth-warning", "PING")
    assert ok.stdout.strip() == "PONG", ok.stderr
    bad = redis_cli_tls(tls_pki, port, "PING", ca=tls_pki.wrong_ca)
    assert "certificate verify failed" in bad.stdout + bad.stderr
    strict = servers(tls_redis(workdir, tls_pki, name="strict", auth_clients=True))
    assert "PONG" not in redis_cli_tls(tls_pki, strict.port, "PING").stdout
    assert redis_cli_tls(tls_pki, strict.port, "PING", cert=tls_pki.client_cert,
                         key=tls_pki.client_key).stdout.strip() == "PONG"
    expired = servers(tls_redis(workdir, tls_pki, name="expired", cert=tls_pki.expired_cert,
                                key=tls_pki.expired_key))
    res = redis_cli_tls(tls_pki, expired.port, "PING")
    assert "certificate verify failed" in res.stdout + res.stderr


# ---- nexusd and nexusctl ------------------------------------------------------------------


@needs_transport
def test_jobs_and_nexusctl_over_rediss_with_the_right_ca(r, nexusd, redis_server, tls_pki):
    n = nexusd(make_config(extra=tls_conf(tls_pki)))
    jids = [push(r, "noop", [i]) for i in range(20)]
    n.wait_jobs(jids)
    res = ctl(n.conf, redis_server.url, "enqueue", "noop", "[]")
    assert res.returncode == 0, res.stderr
    n.wait_jobs([res.stdout.strip()])
    res = ctl(n.conf, redis_server.url, "stats")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("processed  21"), res.stdout
    # every connection of nexusd came over TLS: the server has no other TCP port
    assert all(c.get("addr", "").startswith("127.0.0.1") or c.get("addr", "").startswith("/")
               for c in r.client_list())
    assert PASSWORD not in n.text()


@needs_transport
def test_a_wrong_ca_is_a_clear_error_and_nexusd_retries_until_fixed(r, nexusd, redis_server,
                                                                    tls_pki):
    n, line = failing(nexusd, redis_server, tls_pki, "certificate verify failed",
                      tls_ca_file=tls_pki.wrong_ca)
    assert "unable to get local issuer certificate" in line or "self" in line, line
    res = ctl(n.conf, redis_server.url, "stats")
    assert res.returncode != 0
    assert "certificate verify failed" in res.stderr and masked(redis_server).search(res.stderr)
    # the configuration fixed (TLS settings take effect at start): the next start connects
    n.cleanup()
    fixed = nexusd(make_config(extra=tls_conf(tls_pki)), name="fixed")
    fixed.wait_jobs([push(r, "noop", [])])


@needs_transport
def test_client_certificate_required(nexusd_on, tls_pki, servers, workdir):
    strict = servers(with_password(tls_redis(workdir, tls_pki, name="strict",
                                             auth_clients=True)))
    on = nexusd_on(strict)
    # TLS 1.3: the server checks the client's certificate after the client's handshake
    # ended, and resets the connection or sends an alert at the first write or read
    n, line = failing(on, strict, tls_pki, r"event=redis_down", name="nocert")
    assert re.search(r"(?i)certificate|handshake|alert|reset|closed", line), line
    # however it ended, the line names the missing setting
    assert "certificate required" in line or "redis.tls_cert_file" in line, line
    good = on(make_config(extra=tls_conf(tls_pki, tls_cert_file=tls_pki.client_cert,
                                         tls_key_file=tls_pki.client_key)), name="withcert")
    good.wait_jobs([push(strict.client(), "noop", [])])
    res = ctl(good.conf, strict.url, "stats")
    assert res.returncode == 0, res.stderr


@needs_transport
def test_server_name_mismatch_and_tls_server_name(nexusd, redis_server, nexusd_on, tls_pki,
                                                  servers, workdir):
    """A certificate for other.example behind 127.0.0.1: refused (checked as an IP);
    tls_server_name = "other.example" makes it the name checked (and SNI)."""
    other = servers(with_password(tls_redis(workdir, tls_pki, name="other",
                                            cert=tls_pki.other_cert, key=tls_pki.other_key)))
    on = nexusd_on(other)
    n, line = failing(on, other, tls_pki, "certificate verify failed", name="byip")
    assert "mismatch" in line.lower(), line
    named = on(make_config(extra=tls_conf(tls_pki, tls_server_name="other.example")),
               name="named")
    named.wait_jobs([push(other.client(), "noop", [])])
    # and the good certificate checked against a name it does not carry
    _, line = failing(nexusd, redis_server, tls_pki, "certificate verify failed",
                      name="wrongname", tls_server_name="wrong.example")
    assert "mismatch" in line.lower(), line


@needs_transport
def test_expired_certificate_then_server_fixed(nexusd_on, tls_pki, servers, workdir):
    expired = servers(with_password(tls_redis(workdir, tls_pki, name="expired",
                                              cert=tls_pki.expired_cert,
                                              key=tls_pki.expired_key)))
    n, line = failing(nexusd_on(expired), expired, tls_pki, "certificate verify failed")
    assert "expired" in line, line
    # the server restarted with a good certificate on the same port: nexusd, still
    # retrying, gets through without a restart
    tls_set_cert(expired, tls_pki.server_cert, tls_pki.server_key)
    n.wait_ready(timeout=20)
    n.wait_jobs([push(expired.client(), "noop", [])])


@needs_transport
def test_a_plain_server_behind_rediss_is_a_clear_error(nexusd_on, tls_pki, servers, workdir):
    """A plain Redis reads a TLS hello as the start of an inline command and waits for its
    end: the handshake times out, and the message says a plain server may be why (or, when
    the server answers, that it answered in plain text)."""
    plain = servers(plain_tcp_redis(workdir))
    n, line = failing(nexusd_on(plain), plain, tls_pki, "plain")
    res = run_cmd([NEXUSCTL, "-c", n.conf, "stats"], env={"REDIS_URL": plain.url})
    assert res.returncode != 0 and "plain" in res.stderr, res.stderr


@needs_transport
def test_tls_verify_false_connects_and_warns(r, nexusd, redis_server, tls_pki):
    n = nexusd(make_config(extra=tls_conf(tls_pki, tls_ca_file=tls_pki.wrong_ca,
                                          tls_verify=False)))
    warn = [e for e in n.lines(level="warn") if "tls_verify" in " ".join(e.values())]
    assert warn, n.tail()
    n.wait_jobs([push(r, "noop", [])])
    res = ctl(n.conf, redis_server.url, "stats")
    assert res.returncode == 0, res.stderr
    assert "warning: redis.tls_verify = false" in res.stderr, res.stderr


@needs_transport
def test_check_shows_tls_and_refuses_missing_files(workdir, tls_pki, redis_server):
    conf = os.path.join(workdir, "t.conf")
    with open(conf, "w") as f:
        f.write(tls_conf(tls_pki).replace("redis = {", 'redis = { url = "%s";'
                                          % redis_server.url))
    res = run_cmd([NEXUSD, "-t", "-c", conf])
    assert res.returncode == 0, res.stderr
    assert re.search(r"(?i)\btls\b.*\bon\b", res.stdout + res.stderr), res.stdout + res.stderr
    assert PASSWORD not in res.stdout + res.stderr
    missing = os.path.join(workdir, "nope.pem")
    with open(conf, "w") as f:
        f.write(tls_conf(tls_pki, tls_ca_file=missing))
    res = run_cmd([NEXUSD, "-t", "-c", conf])
    assert res.returncode == 2, res.stdout + res.stderr
    assert "redis.tls_ca_file" in res.stderr and missing in res.stderr, res.stderr


@needs_transport
def test_secrets_are_never_shown(nexusd_on, tls_pki, servers, workdir):
    """The password in the URL and the client key's contents: in no log, no nexusctl output,
    no `nexusd -t` output, also when things fail."""
    plain = servers(with_password(plain_tcp_redis(workdir, name="plain2")))
    n, _ = failing(nexusd_on(plain), plain, tls_pki, "event=redis_down",
                   tls_cert_file=tls_pki.client_cert, tls_key_file=tls_pki.client_key)
    with open(tls_pki.client_key) as f:
        key_body = f.read().splitlines()[1]
    outputs = [n.text()]
    for args in (["stats"], ["enqueue", "noop", "[]"]):
        res = run_cmd([NEXUSCTL, "-c", n.conf] + args, env={"REDIS_URL": plain.url})
        outputs += [res.stdout, res.stderr]
    res = run_cmd([NEXUSD, "-t", "-c", n.conf], env={"REDIS_URL": plain.url})
    outputs += [res.stdout, res.stderr]
    for text in outputs:
        assert PASSWORD not in text and key_body not in text


# ---- docs/redis.md's examples ------------------------------------------------------------


def docs_examples():
    """The libconfig blocks of docs/redis.md (```conf fences), with their headings."""
    with open(os.path.join(SOURCE_DIR, "docs", "redis.md")) as f:
        text = f.read()
    out, heading = [], None
    for m in re.finditer(r"^(#+ [^\n]*)$|^```conf\n(.*?)^```", text, re.M | re.S):
        if m.group(1):
            heading = m.group(1)
        else:
            out.append((heading, m.group(2)))
    return out


def test_docs_have_an_example_for_each_kind_of_hosted_redis():
    headings = " ".join(h for h, _ in docs_examples())
    for kind in ("Upstash", "ElastiCache", "Memorystore", "ACL", "Sentinel"):
        assert kind in headings, kind


def example_params():
    return [pytest.param(h, t, id=re.sub(r"\W+", "_", h.strip("# "))[:40])
            for h, t in docs_examples()]


@needs_transport
@pytest.mark.parametrize("heading,text", example_params())
def test_docs_example_loads_with_nexusd_t(heading, text, workdir, tls_pki):
    """Each example of docs/redis.md passes `nexusd -t`, its certificate paths replaced by
    real files (the check opens them)."""
    def real(m):
        setting = m.group(1)
        if setting == "tls_cert_file":
            return '%s = "%s"' % (setting, tls_pki.client_cert)
        if setting == "tls_key_file":
            return '%s = "%s"' % (setting, tls_pki.client_key)
        return '%s = "%s"' % (setting, tls_pki.ca)
    text = re.sub(r'(tls_[a-z_]+_file)\s*=\s*"([^"]*)"', real, text)
    secret = os.path.join(workdir, "example.secret")
    with open(secret, "w") as f:
        f.write("CHANGE-ME\n")
    os.chmod(secret, 0o600)
    text = re.sub(r'(password_file)\s*=\s*"([^"]*)"', r'\1 = "%s"' % secret, text)
    conf = os.path.join(workdir, "example.conf")
    with open(conf, "w") as f:
        f.write(text)
    res = run_cmd([NEXUSD, "-t", "-c", conf])
    assert res.returncode == 0, "%s\n%s\n%s" % (heading, text, res.stderr)
