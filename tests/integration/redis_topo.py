"""The Redis set-ups of the integration tests beyond one plain server: a test PKI made with
the openssl CLI, redis-server over TLS, ACL users with nexusd's minimum rights, and a
Sentinel topology (one master, one replica, three sentinels on loopback ports).

conftest.py's fixtures build on these (tls_pki, tls_redis, sentinel_topo, and the whole
core suite over TLS with NEXUS_TEST_REDIS_TLS=1); docs/redis.md shows the same ACL rules.
"""
import os
import shutil
import signal
import socket
import subprocess

import redis

from conftest import RedisServer, wait_for


def free_port():
    """A TCP port free on 127.0.0.1 right now (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- a test PKI -------------------------------------------------------------------------

_CA_CNF = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = nexus test CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
"""

_LEAF_EXT = """basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = %s
subjectAltName = %s
authorityKeyIdentifier = keyid
"""

# The names the server certificates are good for; URLs use 127.0.0.1 (checked as an IP).
SERVER_NAMES = "DNS:localhost,IP:127.0.0.1,IP:::1"


def openssl(cwd, *args):
    res = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=60)
    if res.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), res.stderr))


class Pki:
    """A CA and the certificates the TLS tests need, as files in `dir` (EC P-256 keys):
      ca, wrong_ca            the CA that signed everything below, and an unrelated one;
      server_cert/server_key  for localhost, 127.0.0.1 and ::1, valid 30 days;
      client_cert/client_key  a client certificate (tls-auth-clients yes);
      expired_cert/expired_key  the same names, expired a day before it was issued;
      other_cert/other_key    good, but for other.example only (a host name mismatch)."""

    def __init__(self, dir):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.ca, self.ca_key = self._make_ca("ca", "nexus test CA")
        self.wrong_ca, self.wrong_ca_key = self._make_ca("wrong-ca", "someone else's CA")
        self.server_cert, self.server_key = self._issue("server", "localhost", SERVER_NAMES,
                                                        "serverAuth", 30)
        self.client_cert, self.client_key = self._issue("client", "nexusd", "DNS:nexusd",
                                                        "clientAuth", 30)
        self.expired_cert, self.expired_key = self._issue("expired", "localhost", SERVER_NAMES,
                                                          "serverAuth", -1)
        self.other_cert, self.other_key = self._issue("other", "other.example",
                                                      "DNS:other.example", "serverAuth", 30)

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _make_ca(self, name, cn):
        with open(self._path(name + ".cnf"), "w") as f:
            f.write(_CA_CNF)
        openssl(self.dir, "req", "-x509", "-config", name + ".cnf", "-extensions", "v3_ca",
                "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", name + ".key", "-out", name + ".crt", "-days", "30",
                "-subj", "/CN=" + cn)
        return self._path(name + ".crt"), self._path(name + ".key")

    def _issue(self, name, cn, san, usage, days):
        """A leaf signed by self.ca; days=-1 makes it expired (notAfter before notBefore)."""
        with open(self._path(name + ".ext"), "w") as f:
            f.write(_LEAF_EXT % (usage, san))
        openssl(self.dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        openssl(self.dir, "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey",
                "ca.key", "-CAcreateserial", "-out", name + ".crt", "-days", str(days),
                "-extfile", name + ".ext")
        return self._path(name + ".crt"), self._path(name + ".key")


# ---- redis-server over TLS ----------------------------------------------------------------


def tls_args(pki, port, auth_clients=False, cert=None, key=None):
    """redis-server arguments serving TLS on 127.0.0.1:`port` (and its unix socket stays
    plain, for the test's own clients). `cert`/`key` default to pki's good server pair."""
    return ["--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", cert or pki.server_cert, "--tls-key-file", key or pki.server_key,
            "--tls-ca-cert-file", pki.ca,
            "--tls-auth-clients", "yes" if auth_clients else "no"]


def tls_redis(workdir, pki, name="redis", **kw):
    """A RedisServer (not started) serving rediss://127.0.0.1:PORT; kw go to tls_args()."""
    port = free_port()
    server = RedisServer(workdir, name=name, args=tls_args(pki, port, **kw),
                         url="rediss://127.0.0.1:%d" % port)
    server.port = port
    return server


def tls_set_cert(server, cert, key):
    """Restarts a tls_redis() server on the same port with another certificate (its other
    arguments kept)."""
    args = server.args
    args[args.index("--tls-cert-file") + 1] = cert
    args[args.index("--tls-key-file") + 1] = key
    server.kill()
    server.start()


def plain_tcp_redis(workdir, name="plain"):
    """A RedisServer (not started) speaking plain text on a TCP port, behind a rediss://
    URL: what a TLS client must refuse clearly."""
    port = free_port()
    server = RedisServer(workdir, name=name, args=["--port", str(port), "--bind", "127.0.0.1"],
                         url="rediss://127.0.0.1:%d" % port)
    server.port = port
    return server


def tls_conf(pki, **settings):
    """The text of a `redis = { ... };` group with tls_ca_file = pki.ca and `settings`
    (tls_cert_file, tls_verify=False, ...), for make_config(extra=...)."""
    values = {"tls_ca_file": pki.ca}
    values.update(settings)
    values = {k: v for k, v in values.items() if v is not None}
    body = " ".join("%s = %s;" % (k, _conf_value(v)) for k, v in values.items())
    return "redis = { %s };" % body


def _conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')


# ---- ACL users ----------------------------------------------------------------------------

# Every command nexusd and nexusctl send, directly or from their Lua scripts (EVAL runs each
# redis.call() with the caller's rights): found in the sources and checked by
# test_redis_acl.py, which runs the whole core flow with a user that has just these.
NEXUSD_ACL_COMMANDS = (
    # connection
    "select", "ping",
    # scripts: everything atomic goes through EVALSHA, or EVAL when Redis lacks the script
    "eval", "evalsha",
    # lists: the queues and the in-flight lists
    "blmove", "lmove", "lpush", "rpush", "lrange", "lindex", "llen", "lrem", "lset",
    "ltrim",
    # an operator's signals to a process (nexusctl quiet/stop), popped by its heartbeat
    "rpop",
    # sets: queues, processes, paused queues
    "sadd", "srem", "smembers", "sismember", "scard",
    # sorted sets: schedule, retry, dead, rate and concurrency limits, outbox
    "zadd", "zrem", "zrange", "zrevrange", "zrangebyscore", "zcard", "zcount", "zscan",
    "zremrangebyscore", "zremrangebyrank",
    # hashes: process records, cron state, the dashboard's metrics
    "hset", "hget", "hmget", "hgetall", "hdel", "hexists", "hincrby", "hlen",
    # strings and keys: counters, expiry, the reaper's sweep, unique jobs' locks (SET NX PX)
    "get", "set", "incrby", "del", "exists", "expire", "scan", "time",
    # transactions of nexusctl's and the dashboard's pushes
    "multi", "exec",
)


def acl_keys(namespace=""):
    """Key patterns of nexusd's keys under `namespace`: with one, everything is under it;
    without, Sidekiq's keys, nexus:*, unique jobs' locks and the process identities
    (HOST:PID:12 hex digits, and the same with :work and -signals)."""
    if namespace:
        return ["~%s*" % namespace]
    return ["~queues", "~queue:*", "~schedule", "~retry", "~dead", "~stat:*", "~processes",
            "~nexus:*", "~unique:*", "~*:*:????????????", "~*:*:????????????:work",
            "~*:*:????????????-signals"]


def acl_rules(namespace="", commands=NEXUSD_ACL_COMMANDS):
    """ACL SETUSER rules (after the user name) granting exactly nexusd's rights; the
    password is added by acl_setuser()."""
    return (["reset", "on", "-@all"] + ["+" + c for c in commands] + acl_keys(namespace))


def acl_line(user, password, namespace=""):
    """The ready `ACL SETUSER` line docs/redis.md shows (the password after the rules)."""
    return "ACL SETUSER %s %s >%s" % (user, " ".join(acl_rules(namespace)), password)


def acl_setuser(client, user, password, namespace="", commands=NEXUSD_ACL_COMMANDS):
    """Creates (or resets) `user` with nexusd's rights, through an admin `client`."""
    client.execute_command("ACL", "SETUSER", user, *acl_rules(namespace, commands),
                           ">" + password)


# ---- Sentinel -----------------------------------------------------------------------------

SENTINEL_MASTER = "nexus"


def sentinel_binary():
    """Debian's redis-sentinel (package redis-sentinel), or redis-server in sentinel mode:
    the same program."""
    return [shutil.which("redis-sentinel")] if shutil.which("redis-sentinel") else \
        ["redis-server"]


class Sentinel:
    """One sentinel process on 127.0.0.1:port, with its own (rewritable) config file."""

    def __init__(self, workdir, index, master_port, quorum=2, password=None):
        self.port = free_port()
        self.name = "sentinel%d" % index
        self.conf = os.path.join(workdir, self.name + ".conf")
        self.logfile = os.path.join(workdir, self.name + ".log")
        self.password = password
        lines = ["port %d" % self.port, "bind 127.0.0.1", "daemonize no",
                 "dir %s" % workdir,
                 "sentinel monitor %s 127.0.0.1 %d %d" % (SENTINEL_MASTER, master_port, quorum),
                 "sentinel down-after-milliseconds %s 1000" % SENTINEL_MASTER,
                 "sentinel failover-timeout %s 10000" % SENTINEL_MASTER,
                 "sentinel parallel-syncs %s 1" % SENTINEL_MASTER]
        if password:
            lines.append("requirepass %s" % password)
            # the sentinels talk to each other with the same password
            lines.append("sentinel sentinel-pass %s" % password)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        binary = sentinel_binary()
        args = binary + [self.conf] + ([] if binary[0].endswith("redis-sentinel")
                                        else ["--sentinel"])
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        return self

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           decode_responses=True, socket_timeout=5)

    def master(self):
        """SENTINEL MASTER's fields as a dict, or None while it does not answer."""
        try:
            flat = self.client().execute_command("SENTINEL", "MASTER", SENTINEL_MASTER)
        except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError):
            return None
        if isinstance(flat, dict):
            return flat
        return dict(zip(flat[::2], flat[1::2]))

    def master_addr(self):
        try:
            host, port = self.client().execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                                                       SENTINEL_MASTER)
            return host, int(port)
        except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError, TypeError):
            return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class SentinelTopology:
    """A master, a replica of it and three sentinels (quorum 2), all on loopback TCP ports
    (sentinels find each other and the replica over TCP: unix sockets are not enough).
    The servers keep their unix sockets for the test's own clients."""

    def __init__(self, workdir, sentinel_password=None):
        self.workdir = workdir
        self.servers = []
        for name in ("master", "replica"):
            port = free_port()
            s = RedisServer(workdir, name=name, args=["--port", str(port), "--bind", "127.0.0.1",
                                                      "--repl-diskless-sync", "yes",
                                                      "--repl-diskless-sync-delay", "0"],
                            url="redis://127.0.0.1:%d" % port)
            s.port = port
            self.servers.append(s)
        self.master, self.replica = self.servers
        self.replica.args += ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.sentinel_password = sentinel_password
        self.sentinels = [Sentinel(workdir, i + 1, self.master.port, password=sentinel_password)
                          for i in range(3)]

    @property
    def sentinel_addrs(self):
        """("127.0.0.1:PORT", ...) as redis.sentinels wants them."""
        return ["127.0.0.1:%d" % s.port for s in self.sentinels]

    def start(self, timeout=30.0):
        self.master.start()
        self.replica.start()
        wait_for(lambda: self.replica.client().info("replication").get("master_link_status")
                 == "up", timeout, what="the replica to sync with the master")
        for s in self.sentinels:
            s.start()
        self.wait_settled(self.master.port, timeout)
        return self

    def wait_settled(self, master_port, timeout=30.0):
        """Waits until every sentinel names 127.0.0.1:master_port as the master and knows
        the two other sentinels and one replica."""
        def settled():
            for s in self.sentinels:
                if s.proc is None or s.proc.poll() is not None:
                    continue
                m = s.master()
                if not m or int(m.get("port", 0)) != master_port:
                    return False
                if int(m.get("num-other-sentinels", 0)) < 2 or int(m.get("num-slaves", 0)) < 1:
                    return False
                if "s_down" in m.get("flags", "") or "o_down" in m.get("flags", ""):
                    return False
            return True
        wait_for(settled, timeout, interval=0.1, what="the sentinels to agree on %d and see "
                 "each other and the replica" % master_port)

    def master_addr(self):
        """The master's address by a majority of sentinels, or None."""
        addrs = [s.master_addr() for s in self.sentinels]
        for a in addrs:
            if a is not None and addrs.count(a) >= 2:
                return a
        return None

    def server_at(self, port):
        return next(s for s in self.servers if s.port == port)

    def kill_master(self):
        """kill -9 of the current master; returns the killed RedisServer."""
        _, port = self.master_addr()
        victim = self.server_at(port)
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        return victim

    def wait_promotion(self, old_port, timeout=30.0):
        """Waits until the sentinels name another master and it says role:master; returns
        that RedisServer."""
        def promoted():
            a = self.master_addr()
            if a is None or a[1] == old_port:
                return None
            s = self.server_at(a[1])
            try:
                return s if s.client().info("replication").get("role") == "master" else None
            except redis.ConnectionError:
                return None
        return wait_for(promoted, timeout, interval=0.1, what="a replica promoted in place of "
                        ":%d" % old_port)

    def wait_rejoined(self, timeout=90.0):
        """After a failover and the old master's restart: waits until the master the sentinels
        name says role:master and the other server replicates (role:slave); returns (master,
        replica). Usually the old master comes back as the replica (the sentinels send it
        REPLICAOF: they read a replica's INFO every 10 s and let a wrong role stand 8 s); on a
        loaded machine a sentinel that could not reach the new master within
        down-after-milliseconds may fail over once more, back to the restarted old master,
        and the other server becomes the replica. Either way the topology converges."""
        def converged():
            a = self.master_addr()
            if a is None:
                return None
            master = self.server_at(a[1])
            replica = next(s for s in self.servers if s is not master)
            try:
                if master.client().info("replication").get("role") != "master":
                    return None
                if replica.client().info("replication").get("role") != "slave":
                    return None
            except (redis.ConnectionError, redis.TimeoutError):
                return None
            return master, replica
        return wait_for(converged, timeout, interval=0.2,
                        what="one master and its replica after the old master's restart")

    def stop(self):
        for s in self.sentinels:
            s.kill()
        for s in self.servers:
            s.close_clients()
            s.kill()


def redis_cli_tls(pki, port, *command, ca=None, cert=None, key=None, sni=None):
    """redis-cli over TLS to 127.0.0.1:port (the reference client): CompletedProcess."""
    args = ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--tls", "--cacert", ca or pki.ca]
    if cert:
        args += ["--cert", cert, "--key", key]
    if sni:
        args += ["--sni", sni]
    return subprocess.run(args + list(command), capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


# ---- what the nexusd under test can do -----------------------------------------------------

_TRANSPORT_PROBE = """redis = { url = "rediss://nexusd:pw@127.0.0.1:6380/0"; tls_verify = true;
  tls_server_name = "localhost"; };
"""


def transport_missing(nexusd, workdir):
    """None when `nexusd -t` accepts a rediss:// URL with a user and the redis.tls_*
    settings (nexusd's own transport: TLS and ACL users); otherwise the reason to skip."""
    path = os.path.join(workdir, "probe.conf")
    with open(path, "w") as f:
        f.write(_TRANSPORT_PROBE)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    res = subprocess.run([nexusd, "-t", "-c", path], capture_output=True, text=True, env=env,
                         timeout=30, stdin=subprocess.DEVNULL)
    if res.returncode == 0:
        return None
    return "this nexusd has no TLS/ACL transport yet (nexusd -t: %s)" % \
        (res.stderr.strip().splitlines() or ["exit %d" % res.returncode])[-1]
