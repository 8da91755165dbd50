"""PostgreSQL over TLS (sslmode=require, verify-full with the test's CA; a wrong CA and a host
name the certificate does not carry fail clearly, the password masked), and host names looked
up off the loop: a name that resolves (localhost) works end to end, a nameserver that never
answers stalls the database's connection attempts, never the jobs or /healthz."""
import re
import urllib.parse

import pytest

from conftest import NEXUSD, make_config, push, run_cmd
from dnshole import silent_nameserver

ROW_CLASS = {"name": "rows.add", "sql": "INSERT INTO tls_rows (n, note) VALUES ($1, $2)",
             "args": "int, text", "max_retries": 5}
PASSWORD = "s3cret-Pw"  # trust authentication: sent never, shown never


@pytest.fixture(scope="module")
def tls_pg(tls_pki):
    """A private PostgreSQL serving TLS with a certificate for localhost, 127.0.0.1 and ::1
    signed by the test CA, migrated over plain TCP."""
    from pg import PostgresServer
    server = PostgresServer().use_tls(tls_pki.server_cert, tls_pki.server_key).start()
    try:
        res = run_cmd([NEXUSD, "migrate"], env={"DATABASE_URL": server.url}, timeout=60)
        assert res.returncode == 0, res.stderr
        server.psql("CREATE TABLE tls_rows (id bigserial PRIMARY KEY, n integer NOT NULL, "
                    "note text)")
        yield server
    finally:
        server.cleanup()


def pg_url(server, host="localhost", **query):
    return "postgresql://postgres:%s@%s:%d/postgres?%s" % (
        PASSWORD, host, server.port, urllib.parse.urlencode(query))


def count(server, sql):
    return int(server.psql(sql).strip())


def rows_through(nexusd, r, server, url, n=50):
    """nexusd with DATABASE_URL=url writes n rows through rows.add; returns the Nexusd."""
    server.psql("TRUNCATE tls_rows")
    d = nexusd(make_config(None, (ROW_CLASS,)), env={"DATABASE_URL": url})
    jids = [push(r, "rows.add", [i, "tls %d" % i]) for i in range(n)]
    d.wait_jobs(jids, timeout=30)
    assert count(server, "SELECT count(*) FROM tls_rows") == n
    return d


def ssl_conns(server):
    """nexusd's pool connections to `server` (application_name nexusd), and how many of them
    are TLS."""
    row = server.psql("SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a "
                      "JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'nexusd'")
    return [int(x) for x in row.strip().split("|")]


def test_verify_full_with_the_test_ca_and_the_host_name_writes_rows_over_tls(
        tls_pg, tls_pki, nexusd, r):
    """localhost is a name: looked up off the loop, its addresses handed to libpq as
    hostaddr= (where ::1 comes first, the server does not listen there and libpq moves on to
    127.0.0.1), and host=localhost checked against the certificate."""
    url = pg_url(tls_pg, sslmode="verify-full", sslrootcert=tls_pki.ca)
    d = rows_through(nexusd, r, tls_pg, url)
    total, tls = ssl_conns(tls_pg)
    assert total >= 1 and tls == total, (total, tls)
    assert PASSWORD not in d.text()
    res = run_cmd([NEXUSD, "migrate"], env={"DATABASE_URL": url}, timeout=60)
    assert res.returncode == 0, res.stderr


def test_sslmode_require_encrypts_without_a_ca(tls_pg, nexusd, r):
    rows_through(nexusd, r, tls_pg, pg_url(tls_pg, "127.0.0.1", sslmode="require"))
    total, tls = ssl_conns(tls_pg)
    assert total >= 1 and tls == total, (total, tls)


def refused(nexusd, r, url, expect):
    """nexusd logs db_down with `expect` in it, a job that needs the database is retried, and
    `nexusd migrate` fails with the same words; the password shows nowhere."""
    d = nexusd(make_config(None, (ROW_CLASS,)), env={"DATABASE_URL": url})
    line = d.wait_log(r"event=db_down .*%s" % re.escape(expect).replace('"', r'\\?"'), 15)[0]
    assert PASSWORD not in d.text(), line
    jid = push(r, "rows.add", [1, "refused"])
    d.wait_jobs([jid], outcome="retry")
    res = run_cmd([NEXUSD, "migrate"], env={"DATABASE_URL": url}, timeout=60)
    assert res.returncode != 0
    assert "cannot connect to PostgreSQL" in res.stderr, res.stderr
    assert expect in res.stderr, res.stderr
    assert PASSWORD not in res.stderr + res.stdout, res.stderr
    return line


def test_a_wrong_ca_is_refused_clearly(tls_pg, tls_pki, nexusd, r):
    refused(nexusd, r, pg_url(tls_pg, sslmode="verify-full", sslrootcert=tls_pki.wrong_ca),
            "certificate verify failed")


def test_a_host_name_the_certificate_does_not_carry_is_refused_clearly(
        tls_pg, tls_pki, nexusd, r):
    """The name a client connects with (host=, also with hostaddr= given) must be in the
    certificate: db.nexus-test.example is not."""
    url = pg_url(tls_pg, "db.nexus-test.example", hostaddr="127.0.0.1", sslmode="verify-full",
                 sslrootcert=tls_pki.ca)
    line = refused(nexusd, r, url, 'does not match host name "db.nexus-test.example"')
    assert 'connection to server at \\"127.0.0.1\\"' in line, line


def test_a_slow_name_lookup_stalls_the_database_never_the_loop(nexusd, workdir, r):
    """A nameserver that never answers (a UDP socket on 127.0.0.1:53 that reads and keeps
    quiet, seen by nexusd through its own /etc/resolv.conf, bind-mounted in a private mount
    namespace). Start-up's schema check waits for the resolver (before the loop runs); then
    each connection attempt of the pool waits for its lookup, cut by
    database.connect_timeout, while noop jobs run and /healthz answers at once. With libpq
    looking the name up itself, each attempt froze the loop for the resolver's timeout."""
    from httpc import http_address, slowest_answer
    with silent_nameserver(workdir, timeout_s=3) as wrapper:
        n = nexusd(make_config(None, (ROW_CLASS,), "database = { connect_timeout = 0.5; };"),
                   start=False,
                   env={"DATABASE_URL": "postgresql://postgres:%s@db.nexus-test.example:5432/"
                                        "postgres" % PASSWORD})
        n.wrapper = wrapper
        n.start(wait_ready=False)
        addr = http_address(n, timeout=30)
        n.wait_ready(timeout=10)
        jids = [push(r, "noop", []) for _ in range(20)]
        worst = slowest_answer(addr, "/healthz", 4)
        assert worst < 0.3, worst
        n.wait_jobs(jids, timeout=5)
        line = n.wait_log(r"event=db_down .*connect timed out after 0.5s looking up the "
                          r"host's name", 10)[0]
        assert "db.nexus-test.example:5432/postgres" in line, line
        assert PASSWORD not in n.text()


def test_a_name_that_does_not_resolve_is_named_in_the_error(nexusd, r):
    """/etc/hosts and the system's resolver answer 'no such name' for .invalid (RFC 6761)."""
    d = nexusd(make_config(None, (ROW_CLASS,)),
               env={"DATABASE_URL": "postgresql://postgres@db.nexus-test.invalid:5432/postgres"})
    d.wait_log(r"event=db_down .*cannot resolve 'db.nexus-test.invalid'", 30)
