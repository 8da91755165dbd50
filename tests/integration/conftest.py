"""Shared fixtures of nexusd's integration tests.

Each test gets its own redis-server (on a unix socket in a short temporary directory, so
files may run in parallel) and starts nexusd processes through the `nexusd` factory. Every
process started here is killed at teardown, pass or fail, and every nexusd log is scanned
for sanitizer reports (a test run against an ASan/UBSan build fails on any).

Environment: NEXUSD and NEXUSCTL (binary paths; default ../../build/...), NEXUS_SOURCE_DIR;
NEXUS_TEST_REDIS_TLS=1 makes each test's redis-server serve TLS only (redis_topo.py);
NEXUS_TEST_PGBOUNCER=1 puts a pgbouncer in transaction mode in front of each test's
PostgreSQL, through which nexusd sends its pool's statements (pg.py).
"""
import base64
import collections
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import redis

from pg import pool_url_for

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("NEXUS_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
NEXUSD = os.environ.get("NEXUSD") or os.path.join(SOURCE_DIR, "build", "nexusd")
NEXUSCTL = os.environ.get("NEXUSCTL") or os.path.join(SOURCE_DIR, "build", "nexusctl")

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


def _built_with_asan():
    """True when the nexusd under test is the build of NEXUS_BUILD_DIR with ENABLE_ASAN (an
    unoptimised build whose every memory access is checked: a bound on how long the process
    takes to do something needs more room there)."""
    cache = os.path.join(os.environ.get("NEXUS_BUILD_DIR", ""), "CMakeCache.txt")
    try:
        with open(cache) as f:
            return any(line.strip() == "ENABLE_ASAN:BOOL=ON" for line in f)
    except OSError:
        return False


ASAN = _built_with_asan()

# Short intervals so that tests run fast; a test overrides what it needs.
WORKER_DEFAULTS = {
    "concurrency": 10,
    "queues": ["default"],
    "shutdown_timeout": "2s",
    "heartbeat_interval": "0.2s",
    "process_ttl": "1s",
    "poll_interval": "0.1s",
    "block_timeout": "1s",
}


# ---- small helpers ------------------------------------------------------------------------


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    """Polls cond() until it returns a true value (which is returned) or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def stays(cond, duration, interval=0.02):
    """True when cond() holds on every poll for `duration` seconds (a negative check)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if not cond():
            return False
        time.sleep(interval)
    return bool(cond())


def new_jid():
    return secrets.token_hex(12)


def make_job(cls, args, queue="default", **fields):
    """A Sidekiq-shaped job dict. A field given as None is left out."""
    now = time.time()
    job = {
        "class": cls,
        "args": list(args),
        "jid": new_jid(),
        "queue": queue,
        "retry": True,
        "created_at": now,
        "enqueued_at": now,
    }
    job.update(fields)
    return {k: v for k, v in job.items() if v is not None}


def push(r, cls, args, queue="default", **fields):
    """Pushes one job as a Sidekiq client does (MULTI SADD queues, LPUSH). Returns its jid."""
    job = make_job(cls, args, queue=queue, **fields)
    push_raw(r, json.dumps(job), queue)
    return job["jid"]


def push_raw(r, text, queue="default"):
    """Pushes a job text (str or bytes) as it is."""
    p = r.pipeline(transaction=True)
    p.sadd("queues", queue)
    p.lpush("queue:" + queue, text)
    p.execute()


def push_many(r, jobs, queue="default"):
    """Bulk push of job dicts in one LPUSH, as Sidekiq's push_bulk. Returns their jids."""
    p = r.pipeline(transaction=True)
    p.sadd("queues", queue)
    p.lpush("queue:" + queue, *[json.dumps(j) for j in jobs])
    p.execute()
    return [j["jid"] for j in jobs]


def zset_jobs(r, key):
    """The jobs of a sorted set as (dict, score), in score order."""
    return [(json.loads(m), s) for m, s in r.zrange(key, 0, -1, withscores=True)]


def find_in_zset(r, key, jid):
    for job, score in zset_jobs(r, key):
        if job.get("jid") == jid:
            return job, score
    return None


def inflight_keys(r):
    return sorted(k for k in r.scan_iter("nexus:inflight:*"))


def blocked_in_blmove(r):
    """True while some client (nexusd's blocking fetch) is blocked in BLMOVE right now
    (CLIENT LIST's cmd= alone is the last command, also after it returned)."""
    return any(c.get("cmd") == "blmove" and "b" in c.get("flags", "") for c in r.client_list())


def utc_day():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def b64(data):
    return base64.b64encode(data).decode()


# ---- logfmt -------------------------------------------------------------------------------

_PAIR = re.compile(r'([A-Za-z0-9_.]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line):
    """One logfmt line as a dict of strings (quotes removed, \\" and \\\\ unescaped)."""
    out = {}
    for key, value in _PAIR.findall(line):
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1),
                           value[1:-1])
        out[key] = value
    return out


def log_time(entry):
    """The epoch seconds of a parsed line's ts= (millisecond resolution)."""
    dt = datetime.datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


# ---- Redis ---------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of the test's own, on a unix socket (no TCP port unless `args` adds
    one, e.g. TLS: redis_topo.py). `name` names its files in workdir; `url` is what nexusd
    is given (default the unix socket); the test's own clients always use the socket."""

    def __init__(self, workdir, aof=False, name="redis", args=(), url=None):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(workdir, name + ".sock")
        self.url = url or "unix://" + self.sock
        self.aof = aof
        self.args = list(args)
        self.password = None  # of the default user, when `args` sets requirepass
        self.proc = None
        self.logfile = os.path.join(workdir, name + ".log")
        self._clients = []

    def start(self, timeout=10.0):
        assert self.proc is None or self.proc.poll() is not None, "redis already running"
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        args = ["redis-server", "--port", "0", "--unixsocket", self.sock, "--dir", self.dir,
                "--save", "", "--daemonize", "no"]
        if self.aof:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        args += self.args
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited: " + open(self.logfile).read()[-2000:])
            try:
                return redis.Redis(unix_socket_path=self.sock, password=self.password).ping()
            except (redis.ConnectionError, FileNotFoundError, OSError):
                return False

        wait_for(ready, timeout, what="redis-server to answer")
        return self

    def shutdown(self, timeout=10.0):
        """SHUTDOWN (persisting the AOF when on) and waits for the process to end."""
        try:
            redis.Redis(unix_socket_path=self.sock, password=self.password).shutdown()
        except redis.ConnectionError:
            pass  # the server closes the connection instead of replying
        self.proc.wait(timeout)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self):
        self.shutdown()
        return self.start()

    def client(self, decode=True):
        c = redis.Redis(unix_socket_path=self.sock, password=self.password,
                        decode_responses=decode, socket_timeout=30)
        self._clients.append(c)
        return c

    def close_clients(self):
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass


# ---- nexusd --------------------------------------------------------------------------------


def conf_value(v):
    """A Python value in libconfig syntax."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{ " + " ".join("%s = %s;" % (k, conf_value(x)) for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "( " + ", ".join(conf_value(x) for x in v) + " )"
    raise TypeError(v)


def make_config(worker=None, classes=(), extra=""):
    """Config text: WORKER_DEFAULTS updated by `worker`, class entries, then `extra`."""
    w = dict(WORKER_DEFAULTS)
    w.update(worker or {})
    lines = ["worker = %s;" % conf_value(w), "classes = %s;" % conf_value(list(classes))]
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


class Nexusd:
    """One nexusd process: config in its own file, stderr to its own log file."""

    def __init__(self, workdir, redis_server, name, config=None, env=None, args=(), ns=""):
        self.name = name
        self.ns = ns  # redis.namespace of the config, for the keys the helpers read
        self.redis = redis_server
        self.conf = os.path.join(workdir, name + ".conf")
        self.logfile = os.path.join(workdir, name + ".log")
        self.args = list(args)
        self.wrapper = []  # e.g. ["valgrind", ...]: the command nexusd runs under
        self.env = dict(os.environ)
        # each test says which servers it uses: none inherited from the caller's shell
        self.env.pop("DATABASE_URL", None)
        self.env.pop("DATABASE_POOL_URL", None)
        self.env["REDIS_URL"] = redis_server.url
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.env.update(env or {})
        pool_url = pool_url_for(self.env.get("DATABASE_URL"))  # NEXUS_TEST_PGBOUNCER=1
        if pool_url and "DATABASE_POOL_URL" not in (env or {}):
            self.env["DATABASE_POOL_URL"] = pool_url
        self.proc = None
        self.write_config(config if config is not None else make_config())

    def write_config(self, text):
        # each process serves HTTP on its own unix socket unless the test says otherwise
        # (the default 127.0.0.1:7411 would collide between processes and parallel tests)
        self.http_sock = os.path.join(os.path.dirname(self.conf), self.name + ".http")
        if not re.search(r"^\s*http\s*[=:]", text, re.M):
            text += '\nhttp = { listen = "unix:%s"; };\n' % self.http_sock
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, wait_ready=True, timeout=20.0):
        assert self.proc is None, "a Nexusd object runs one process"
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(self.wrapper + [NEXUSD, "-c", self.conf] + self.args,
                                     stdout=log,
                                     stderr=log, stdin=subprocess.DEVNULL, env=self.env)
        log.close()
        self.started_at = time.time()
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=20.0):
        """Waits until the main connection is up and the process is registered."""
        self.wait_log(r"event=redis_up conn=main", timeout)
        r = self.redis.client()
        wait_for(lambda: r.sismember(self.ns + "processes", self.identity), timeout,
                 what="%s in processes" % self.name)

    @property
    def pid(self):
        return self.proc.pid

    @property
    def identity(self):
        return self.lines(event="worker_start")[0]["identity"]

    def inflight_key(self, queue="default"):
        return "%snexus:inflight:%s:%s" % (self.ns, self.identity, queue)

    def wait_running(self, count=1, timeout=10.0):
        """Waits until `count` jobs run. The in-flight list holds a job as soon as Redis moved
        it, before the process has read the reply (a signal then finds nothing running); the
        heartbeat's work hash names running jobs only."""
        r = self.redis.client()
        wait_for(lambda: r.hlen(self.ns + self.identity + ":work") == count, timeout,
                 what="%d job(s) running in %s" % (count, self.name))

    # -- log --

    def text(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def tail(self, n=40):
        return "\n".join(self.text().splitlines()[-n:])

    def whole_lines(self):
        """The log's complete lines: a line nexusd is writing while the file is read may show
        only its start, which would parse as a line missing its last fields."""
        text = self.text()
        return text[:text.rfind("\n") + 1].splitlines()

    def lines(self, **match):
        """Parsed log lines whose fields equal every key=value given (event=..., jid=...)."""
        out = []
        for line in self.whole_lines():
            if not line.startswith("ts="):
                continue
            entry = parse_logfmt(line)
            if all(entry.get(k) == str(v) for k, v in match.items()):
                out.append(entry)
        return out

    def wait_log(self, regex, timeout=10.0, count=1):
        """Waits until `count` lines match `regex`; returns the matching lines (raw text).
        Fails at once, with the log's tail, if the process exits meanwhile."""
        pattern = re.compile(regex)
        deadline = time.monotonic() + timeout
        while True:
            found = [l for l in self.whole_lines() if pattern.search(l)]
            if len(found) >= count:
                return found
            if self.proc is not None and self.proc.poll() is not None:
                found = [l for l in self.text().splitlines() if pattern.search(l)]
                if len(found) >= count:
                    return found
                raise AssertionError("%s exited (%s) before logging %r; log:\n%s"
                                     % (self.name, self.proc.returncode, regex, self.tail()))
            if time.monotonic() > deadline:
                raise AssertionError("%s: timed out after %.1fs waiting for %d x %r (got %d); "
                                     "log:\n%s" % (self.name, timeout, count, regex, len(found),
                                                   self.tail()))
            time.sleep(0.02)

    def wait_jobs(self, jids, outcome="ok", timeout=20.0):
        """Waits until every jid has an event=job line with this outcome; returns {jid: line}."""
        want = set(jids)
        deadline = time.monotonic() + timeout
        while True:
            seen = {e["jid"]: e for e in self.lines(event="job", outcome=outcome)
                    if e.get("jid") in want}
            if len(seen) == len(want):
                return seen
            self.assert_alive()
            if time.monotonic() > deadline:
                raise AssertionError("%s: %d of %d jobs without outcome=%s after %.1fs, e.g. %s; "
                                     "log:\n%s" % (self.name, len(want) - len(seen), len(want),
                                                   outcome, timeout,
                                                   sorted(want - set(seen))[:3], self.tail()))
            time.sleep(0.02)

    def sanitizer_reports(self):
        text = self.text()
        return [m for m in SANITIZER_MARKS if m in text]

    # -- process --

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("%s exited unexpectedly (status %s); log:\n%s"
                                 % (self.name, self.proc.returncode, self.tail()))

    def signal(self, signum):
        self.proc.send_signal(signum)

    def term(self):
        self.proc.send_signal(signal.SIGTERM)

    def kill9(self):
        """SIGKILL and reap (a zombie would still look alive to a pid check)."""
        self.proc.kill()
        self.proc.wait(10)

    def wait_exit(self, timeout=15.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %.1fs; log:\n%s"
                                 % (self.name, timeout, self.tail()))

    def cleanup(self):
        """SIGTERM (so that a sanitizer build checks for leaks at exit), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# ---- fixtures ------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def workdir(request):
    """A short directory (unix socket paths are limited to 107 bytes); kept on failure
    (or always, with NEXUS_IT_KEEP=1)."""
    d = tempfile.mkdtemp(prefix="nxit-", dir="/tmp")
    yield d
    failed = any(getattr(getattr(request.node, "rep_" + w, None), "failed", False)
                 for w in ("setup", "call"))
    if failed or os.environ.get("NEXUS_IT_KEEP"):
        print("\nkept logs of the test in", d)
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_pki(tmp_path_factory):
    """A test CA and its certificates (redis_topo.Pki), made once per session."""
    from redis_topo import Pki
    return Pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture
def redis_server(workdir, request, monkeypatch):
    """The test's redis-server. With NEXUS_TEST_REDIS_TLS=1 it serves TLS and nexusd and
    nexusctl get its rediss:// URL, trusting the test CA through SSL_CERT_FILE (OpenSSL's
    default verify paths: the system CA store's place), so any test runs over TLS."""
    if os.environ.get("NEXUS_TEST_REDIS_TLS") == "1":
        from redis_topo import tls_redis
        pki = request.getfixturevalue("tls_pki")
        monkeypatch.setenv("SSL_CERT_FILE", pki.ca)
        server = tls_redis(workdir, pki).start()
    else:
        server = RedisServer(workdir).start()
    yield server
    server.close_clients()
    server.kill()


@pytest.fixture
def r(redis_server):
    return redis_server.client()


class NexusdFactory:
    def __init__(self, workdir, redis_server):
        self.workdir = workdir
        self.redis = redis_server
        self.all = []

    def __call__(self, config=None, name=None, start=True, **kw):
        """A Nexusd (started unless start=False). `config`: text, or a dict of worker
        settings; classes=[...] and extra="..." go to make_config()."""
        classes = kw.pop("classes", ())
        extra = kw.pop("extra", "")
        if config is None or isinstance(config, dict):
            config = make_config(config, classes, extra)
        n = Nexusd(self.workdir, self.redis, name or "nexusd%d" % (len(self.all) + 1),
                   config, **kw)
        self.all.append(n)
        if start:
            n.start()
        return n

    def finish(self):
        for n in self.all:
            n.cleanup()
        reports = {n.name: n.sanitizer_reports() for n in self.all}
        bad = {k: v for k, v in reports.items() if v}
        if bad:
            details = "\n".join("== %s (%s)\n%s" % (n.name, n.logfile, n.text()[-6000:])
                                for n in self.all if bad.get(n.name))
            pytest.fail("sanitizer reports in nexusd logs: %s\n%s" % (bad, details))


@pytest.fixture
def nexusd(workdir, redis_server):
    factory = NexusdFactory(workdir, redis_server)
    try:
        yield factory
    finally:
        factory.finish()


def run_cmd(args, env=None, timeout=30, input=None):
    """Runs a command; returns CompletedProcess with text stdout/stderr. The caller's
    REDIS_URL and DATABASE_URL are not passed on: `env` names the servers a test uses."""
    e = dict(os.environ)
    e.pop("REDIS_URL", None)
    e.pop("DATABASE_URL", None)
    e.pop("DATABASE_POOL_URL", None)
    e["NEXUS_CONFIG"] = ""  # nexusctl: not the host's /etc/nexusd/nexusd.conf unless asked
    e.update(env or {})
    return subprocess.run(args, env=e, timeout=timeout, capture_output=True, text=True,
                          input=input)


@pytest.fixture
def migrated_pg():
    """A private PostgreSQL (tests/integration/pg.py) with nexusd's schema migrated."""
    from pg import PostgresServer
    server = PostgresServer().start()
    try:
        res = run_cmd([NEXUSD, "migrate"], env={"DATABASE_URL": server.url}, timeout=60)
        assert res.returncode == 0, res.stderr
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def aof_redis(workdir):
    """A redis-server with appendonly on, not started: the test starts, shuts down and
    starts it again, and keeps its data across."""
    server = RedisServer(workdir, aof=True)
    yield server
    server.close_clients()
    server.kill()


@pytest.fixture
def nexusd_aof(workdir, aof_redis):
    factory = NexusdFactory(workdir, aof_redis)
    try:
        yield factory
    finally:
        factory.finish()


def oks(daemons):
    """How many times each jid ran with outcome=ok, over the logs of `daemons`."""
    c = collections.Counter()
    for d in daemons:
        c.update(e["jid"] for e in d.lines(event="job", outcome="ok"))
    return c


def load_app_sql(server):
    """The app's tables and seed (sql/app/schema.sql, then seed.sql) into PostgreSQL `server`."""
    for name in ("schema.sql", "seed.sql"):
        with open(os.path.join(SOURCE_DIR, "sql", "app", name)) as f:
            server.psql(f.read())


def term_clean_under_valgrind(n, vg_log):
    """Stops nexusd `n`, run under valgrind (n.wrapper) with --log-file=`vg_log`, and fails
    on a non-zero exit, any memcheck error or a definite or indirect leak."""
    n.term()
    assert n.wait_exit(120) == 0, open(vg_log).read()[-3000:]
    report = open(vg_log).read()
    assert "ERROR SUMMARY: 0 errors" in report, report[-3000:]
    assert "definitely lost: 0 bytes" in report or "All heap blocks were freed" in report, \
        report[-3000:]


def wakeups(pid):
    """Times the process's threads have gone to sleep and woken so far (voluntary context
    switches)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            total += sum(int(line.split()[1]) for line in f
                         if line.startswith("voluntary_ctxt_switches"))
    return total
