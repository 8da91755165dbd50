"""A private PostgreSQL server for one test: initdb into a temporary directory, a unix socket
in that directory plus 127.0.0.1 on a free port, trust authentication, fsync off.

Works as root: initdb, pg_ctl and postgres run as the `postgres` system user (through
`runuser -u postgres --`), and the directory is created under /tmp, owned by that user.
Binaries come from the newest /usr/lib/postgresql/*/bin (never from PATH).

    server = PostgresServer().start()
    try:
        run(..., env={"DATABASE_URL": server.url})
        server.restart()          # pg_ctl restart -m fast
        server.stop()             # pg_ctl stop -m fast; server.start() brings it back
        server.kill()             # SIGKILL to the postmaster and its children (a crash)
    finally:
        server.cleanup()          # stops it (immediate) and removes the directory

Also usable as a context manager (`with PostgresServer() as server:`).

With NEXUS_TEST_PGBOUNCER=1 each server also gets a pgbouncer in transaction mode in front of
it (pgbouncer.py), started with it and stopped at cleanup, and every nexusd given the
server's url as DATABASE_URL also gets the pgbouncer's as DATABASE_POOL_URL (pool_url_for(),
used by conftest's Nexusd): so any PostgreSQL test runs through a transaction-mode pooler.
"""
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PG_USER = "postgres"

POOL_URLS = {}  # with NEXUS_TEST_PGBOUNCER=1: a server's url -> its pgbouncer's


def pool_url_for(url):
    """The pgbouncer URL in front of the server at `url` (NEXUS_TEST_PGBOUNCER=1), or None."""
    return POOL_URLS.get(url)


def pg_bindir():
    """The bin directory of the newest PostgreSQL under /usr/lib/postgresql."""
    dirs = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.path.exists(d + "/initdb")]
    if not dirs:
        raise RuntimeError("no PostgreSQL server found under /usr/lib/postgresql/*/bin "
                           "(install postgresql)")

    def version(d):
        return [int(x) for x in re.findall(r"\d+", d.split("/")[-2])]

    return max(dirs, key=version)


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, bindir=None, port=None, settings=None):
        self.bindir = bindir or pg_bindir()
        self.port = port or free_port()
        self.as_root = os.geteuid() == 0
        # short: the socket path (dir/.s.PGSQL.<port>) must fit in 107 bytes
        self.dir = tempfile.mkdtemp(prefix="nxpg-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        if self.as_root:
            pw = pwd.getpwnam(PG_USER)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "postgres.log")
        self.settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "'%s'" % self.dir,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "50",
            "shared_buffers": "16MB",
            "logging_collector": "off",
        }
        self.settings.update(settings or {})
        self.initialized = False

    def use_tls(self, cert, key):
        """Serves TLS too (ssl = on; plain connections stay allowed) with this certificate
        and key, copied into the server's directory where its user can read them (the key
        0600, as PostgreSQL requires). Call before the first start()."""
        for name, src in (("server.crt", cert), ("server.key", key)):
            dst = os.path.join(self.dir, name)
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o600)
            if self.as_root:
                pw = pwd.getpwnam(PG_USER)
                os.chown(dst, pw.pw_uid, pw.pw_gid)
            self.settings["ssl_cert_file" if name.endswith(".crt") else "ssl_key_file"] = \
                "'%s'" % dst
        self.settings["ssl"] = "on"
        return self

    # -- addresses --

    @property
    def url(self):
        """TCP, as a libpq URL."""
        return "postgresql://%s@127.0.0.1:%d/postgres" % (PG_USER, self.port)

    @property
    def unix_url(self):
        """The unix socket, as a libpq key=value string."""
        return "host=%s port=%d user=%s dbname=postgres" % (self.dir, self.port, PG_USER)

    # -- running commands --

    def _cmd(self, args):
        args = [os.path.join(self.bindir, args[0])] + list(args[1:])
        return (["runuser", "-u", PG_USER, "--"] + args) if self.as_root else args

    def _run(self, args, timeout=60, check=True):
        p = subprocess.run(self._cmd(args), capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, cwd=self.dir)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s\nserver log:\n%s"
                               % (" ".join(args), p.returncode, p.stdout, p.stderr,
                                  self.log_tail()))
        return p

    def log_tail(self, n=30):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # -- life cycle --

    def init(self):
        self._run(["initdb", "-D", self.data, "-A", "trust", "-U", PG_USER, "-E", "UTF8",
                   "--locale=C", "--no-sync", "--no-instructions"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# tests/integration/pg.py\n")
            for key, value in self.settings.items():
                f.write("%s = %s\n" % (key, value))
        self.initialized = True
        return self

    def start(self, timeout=30):
        if not self.initialized:
            self.init()
        if self.as_root and not os.path.exists(self.logfile):
            open(self.logfile, "a").close()
            pw = pwd.getpwnam(PG_USER)
            os.chown(self.logfile, pw.pw_uid, pw.pw_gid)
        self._run(["pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", str(timeout),
                   "start"], timeout=timeout + 10)
        if os.environ.get("NEXUS_TEST_PGBOUNCER") == "1" and self.url not in POOL_URLS:
            from pgbouncer import PgBouncer
            self.bouncer = PgBouncer(self, pool_size=10).start()
            POOL_URLS[self.url] = self.bouncer.url
        return self

    def stop(self, mode="fast", timeout=30):
        """pg_ctl stop: mode "smart", "fast" or "immediate"."""
        self._run(["pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", str(timeout), "stop"],
                  timeout=timeout + 10)

    def restart(self, mode="fast", timeout=30):
        self._run(["pg_ctl", "-D", self.data, "-l", self.logfile, "-m", mode, "-w", "-t",
                   str(timeout), "restart"], timeout=timeout + 10)
        return self

    def running(self):
        if not self.initialized:
            return False
        p = self._run(["pg_ctl", "-D", self.data, "status"], check=False)
        return p.returncode == 0

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def _children(self, pid):
        out = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(stat.split("/")[2]))
        return out

    def kill(self, timeout=10):
        """SIGKILL to the postmaster and its children, as a crash; start() recovers."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        pids = [pid] + self._children(pid)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while any(os.path.exists("/proc/%d" % p) for p in pids):
            if time.monotonic() > deadline:
                if all(_zombie(p) for p in pids):
                    break  # dead, waiting to be reaped by init
                raise RuntimeError("postgres processes %s survived SIGKILL" % pids)
            time.sleep(0.02)
        # a zombie postmaster still answers kill(pid, 0): start() would refuse the lock file
        try:
            os.unlink(os.path.join(self.data, "postmaster.pid"))
        except FileNotFoundError:
            pass

    def psql(self, sql, timeout=30):
        """Runs SQL with psql over the unix socket; returns stdout (unaligned, no header)."""
        p = subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-p", str(self.port),
                            "-U", PG_USER, "-d", "postgres", "-c", sql],
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError("psql %r failed: %s" % (sql, p.stderr))
        return p.stdout

    def cleanup(self):
        """Stops the server (immediate; SIGKILL if that fails) and removes its directory."""
        if POOL_URLS.pop(self.url, None):
            self.bouncer.stop()
        try:
            if self.running():
                self.stop(mode="immediate")
        except Exception:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
