"""sql/db_*.c against a private PostgreSQL (pg.py): the cmocka suite in sql/db_test.c, then
faults driven from here while db_test runs one of its modes: PostgreSQL restarted or
killed under load (--fault-restart), and a pool made while PostgreSQL is down (--wait-up).

Logging is per pool: one event=db_down when the last connection goes, one event=db_up when
the first comes back (a connection lost while others stay up logs event=db_conn_lost).

Environment: NEXUS_BUILD_DIR (db_test is there; else next to $NEXUSD, else ../../build),
DB_TEST_WRAPPER (a command prefix, e.g. "valgrind --error-exitcode=99 --leak-check=full").
"""
import errno
import os
import re
import shlex
import subprocess

import pytest

from conftest import SANITIZER_MARKS, SOURCE_DIR, parse_logfmt, wait_for
from pg import PostgresServer


def db_test_path():
    build = os.environ.get("NEXUS_BUILD_DIR")
    if not build and os.environ.get("NEXUSD"):
        build = os.path.dirname(os.environ["NEXUSD"])
    return os.path.join(build or os.path.join(SOURCE_DIR, "build"), "db_test")


DB_TEST = db_test_path()
WRAPPER = shlex.split(os.environ.get("DB_TEST_WRAPPER", ""))


@pytest.fixture
def pg():
    server = PostgresServer()
    yield server
    server.cleanup()


class DbTest:
    """One db_test process: stdout and stderr (the logfmt lines) to files in `workdir`."""

    def __init__(self, workdir, url, args=(), name="db_test"):
        if not os.access(DB_TEST, os.X_OK):
            pytest.fail("%s is missing: build it (cmake --build build)" % DB_TEST)
        self.out = os.path.join(workdir, name + ".out")
        self.err = os.path.join(workdir, name + ".log")
        env = dict(os.environ, DATABASE_URL=url)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(WRAPPER + [DB_TEST] + list(args), stdout=out,
                                         stderr=err, stdin=subprocess.DEVNULL, env=env)

    def stdout(self):
        with open(self.out, errors="replace") as f:
            return f.read()

    def log(self):
        with open(self.err, errors="replace") as f:
            return f.read()

    def events(self, name):
        return [parse_logfmt(l) for l in self.log().splitlines()
                if l.startswith("ts=") and parse_logfmt(l).get("event") == name]

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            pytest.fail("db_test did not end within %ss; log:\n%s" % (timeout, self.tail()))

    def tail(self, n=60):
        return "\n".join((self.stdout() + self.log()).splitlines()[-n:])

    def check_clean(self, rc):
        text = self.stdout() + self.log()
        marks = [m for m in SANITIZER_MARKS if m in text]
        assert not marks, "sanitizer reports %s:\n%s" % (marks, self.tail(200))
        assert rc == 0, "db_test exited %s:\n%s" % (rc, self.tail())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def db_tests(workdir):
    procs = []

    def start(url, args=(), name="db_test"):
        p = DbTest(workdir, url, args, name)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()


def counts(line):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", line)}


def event_order(proc):
    """The pool's state changes in the log, in order."""
    events = [parse_logfmt(l).get("event") for l in proc.log().splitlines()
              if l.startswith("ts=")]
    return [e for e in events if e in ("db_up", "db_down")]


def test_db_test_suite_passes(pg, db_tests):
    pg.start()
    p = db_tests(pg.url)
    rc = p.wait(300)
    p.check_clean(rc)
    assert re.search(r"PASSED.*\d+ test", p.stdout() + p.log()), p.tail()


@pytest.mark.parametrize("fault", ["restart", "kill"])
def test_pool_survives_postgres_going_away_and_reconnects(pg, db_tests, fault):
    pg.start()
    p = db_tests(pg.url, ["--fault-restart", "8"], name="fault")
    wait_for(lambda: p.events("db_up") or p.proc.poll() is not None, 20,
             what="db_test's pool to come up")
    assert p.proc.poll() is None, p.tail()
    # queries succeed and the listener is up
    wait_for(lambda: "running " in p.stdout() or p.proc.poll() is not None, 20,
             what="db_test's queries and listener to run")
    assert p.proc.poll() is None, p.tail()
    if fault == "restart":
        pg.restart(mode="fast")
    else:
        pg.kill()  # SIGKILL: connections end without a word from the server
        pg.start()
    rc = p.wait(60)
    p.check_clean(rc)
    last = p.stdout().strip().splitlines()[-1]
    print("db_test --fault-restart:", last)
    c = counts(last)
    assert c["ok"] > 0, last
    assert c["enotconn"] + c["refused"] > 0, "no failure seen during the outage: " + last
    assert c["ok_after_last_failure"] > 0, "no success after the outage: " + last
    assert c["other"] == 0, "errors other than ENOTCONN:\n" + p.tail()
    assert c["downs"] == 1 and c["ups"] == 2, last
    # the pool's state: up, one outage, up again; one line each
    assert event_order(p) == ["db_up", "db_down", "db_up"], p.log()
    down = p.events("db_down")[0]
    assert down["level"] == "error" and down["err"] and down["conns"] == "0/4", down
    assert p.events("db_up")[1]["level"] == "info"


def test_pool_made_while_postgres_is_down_comes_up_when_it_starts(pg, db_tests):
    pg.init()  # port chosen, nothing listening
    p = db_tests(pg.url, ["--wait-up", "30"], name="waitup")
    wait_for(lambda: "state=" in p.stdout() or p.proc.poll() is not None, 20,
             what="db_test to report the pool's first state")
    first = p.stdout().splitlines()[0]
    assert "state=down" in first, p.tail()
    assert "early_query=%d" % -errno.ENOTCONN in first, first  # fails fast
    assert "ups=0" in first
    assert p.events("db_down") and not p.events("db_up"), p.log()
    pg.start()
    rc = p.wait(60)
    p.check_clean(rc)
    out = p.stdout()
    assert "state=up ups=1 downs=0" in out, out
    assert "query=ok" in out, out
    assert event_order(p) == ["db_down", "db_up"], p.log()
