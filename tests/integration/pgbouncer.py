"""Debian's pgbouncer in transaction pool mode in front of a private PostgreSQL (pg.py), for
one test: its own directory under /tmp, 127.0.0.1 on a free port, trust authentication
with a userlist file, a small server pool.

pgbouncer refuses to run as root: as root it runs as the `postgres` system user (its own
`-u postgres`), as pg.py runs postgres. It reaches PostgreSQL over the unix
socket, so that in pg_stat_activity its server connections (client_addr NULL) are told
apart from direct ones over TCP (client_addr 127.0.0.1).

    bouncer = PgBouncer(pg_server, pool_size=4).start()
    try:
        env = {"DATABASE_POOL_URL": bouncer.url, "DATABASE_URL": pg_server.url}
        bouncer.restart()          # stop (SIGINT: immediate) and start on the same port
        bouncer.show("POOLS")      # the admin console: rows as dicts
    finally:
        bouncer.stop()             # and removes its directory
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from pg import PG_USER, PostgresServer, free_port

PGBOUNCER = "/usr/sbin/pgbouncer"


class PgBouncer:
    def __init__(self, pg, pool_size=4, max_client_conn=200, pool_mode="transaction",
                 port=None, settings=None):
        if not os.path.exists(PGBOUNCER):
            raise RuntimeError("%s not found (install pgbouncer: scripts/deps.sh)" % PGBOUNCER)
        self.pg = pg
        self.port = port or free_port()
        self.as_root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="nxpgb-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        self.logfile = os.path.join(self.dir, "pgbouncer.log")
        self.pidfile = os.path.join(self.dir, "pgbouncer.pid")
        self.proc = None
        self.settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": os.path.join(self.dir, "userlist.txt"),
            "admin_users": PG_USER,
            "pool_mode": pool_mode,
            "max_client_conn": str(max_client_conn),
            "default_pool_size": str(pool_size),
            "min_pool_size": "0",
            "reserve_pool_size": "0",
            "server_lifetime": "3600",
            "server_login_retry": "0.2",
            # a query waiting for a server connection (PostgreSQL down) fails after this
            # instead of the default 120 s
            "query_wait_timeout": "5",
            "logfile": self.logfile,
            "pidfile": self.pidfile,
            "ignore_startup_parameters": "extra_float_digits",
        }
        self.settings.update(settings or {})
        with open(self.settings["auth_file"], "w") as f:
            f.write('"%s" ""\n' % PG_USER)
        with open(self.ini, "w") as f:
            f.write("[databases]\n* = host=%s port=%d\n\n[pgbouncer]\n" % (pg.dir, pg.port))
            for key, value in self.settings.items():
                f.write("%s = %s\n" % (key, value))
        if self.as_root:
            pw = pwd.getpwnam(PG_USER)
            for path in (self.dir, self.ini, self.settings["auth_file"]):
                os.chown(path, pw.pw_uid, pw.pw_gid)

    # -- addresses --

    @property
    def url(self):
        """As Supabase writes its pooler's URL: libpq's URL plus ?pgbouncer=true."""
        return "postgresql://%s@127.0.0.1:%d/postgres?pgbouncer=true" % (PG_USER, self.port)

    @property
    def plain_url(self):
        return "postgresql://%s@127.0.0.1:%d/postgres" % (PG_USER, self.port)

    # -- life cycle --

    def _cmd(self, args):
        return args + ["-u", PG_USER] if self.as_root else args

    def start(self, timeout=10.0):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(self._cmd([PGBOUNCER, self.ini]), cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("pgbouncer exited (%s); log:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise RuntimeError("pgbouncer did not listen within %.0fs; log:\n%s"
                                   % (timeout, self.log_tail()))
            time.sleep(0.02)

    def _signal_stop(self, signum, timeout):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            pid = self.pid()
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def restart(self, pause_s=0.0):
        """Stops it at once (SIGINT: every client and server connection dropped), waits
        `pause_s`, and starts it again on the same port."""
        self._signal_stop(signal.SIGINT, 10)
        self._wait_port_free()
        if pause_s:
            time.sleep(pause_s)
        return self.start()

    def _wait_port_free(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", self.port))
                    return
                except OSError:
                    time.sleep(0.05)

    def stop(self):
        """Stops it (SIGINT) and removes its directory."""
        self._signal_stop(signal.SIGINT, 10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    log_tail = PostgresServer.log_tail  # the last lines of self.logfile

    # -- the admin console --

    def show(self, what):
        """SHOW `what` on the admin console (POOLS, CLIENTS, SERVERS...): a list of dicts."""
        import psycopg2
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=PG_USER,
                                dbname="pgbouncer")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SHOW " + what)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            conn.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
