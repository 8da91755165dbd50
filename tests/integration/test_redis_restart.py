"""Redis going away and coming back: nexusd waits, reconnects, and loses no job."""
import os
import socket
import threading
import time

from conftest import blocked_in_blmove, inflight_keys, make_job, oks, push, push_many, wait_for


def test_redis_restart_while_jobs_run(aof_redis, nexusd_aof):
    aof_redis.start()
    r = aof_redis.client()
    d = nexusd_aof({"concurrency": 4})
    jids = push_many(r, [make_job("sleep", [50]) for _ in range(100)])
    d.wait_log(r"event=job .*outcome=ok", count=15, timeout=20)
    aof_redis.shutdown()
    r.connection_pool.reset()
    d.wait_log(r"event=redis_down conn=main", timeout=10)
    down_at = len(d.text().splitlines())
    # Redis stays away for 2 s; nexusd must not exit meanwhile
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        d.assert_alive()
        time.sleep(0.05)
    aof_redis.start()
    # redis_up logged again, after the outage
    wait_for(lambda: any("event=redis_up conn=main" in l
                         for l in d.text().splitlines()[down_at:]),
             timeout=15, what="redis_up after the restart")
    events = [e["event"] for e in d.lines() if e.get("conn") == "main"]
    assert events.index("redis_down") < len(events) - 1 - events[::-1].index("redis_up")
    d.wait_jobs(jids, timeout=40)
    wait_for(lambda: r.llen("queue:default") == 0 and not inflight_keys(r), timeout=15,
             what="queue and in-flight list drained")
    counts = oks([d])
    assert set(counts) == set(jids)
    twice = {j: c for j, c in counts.items() if c > 1}
    assert not twice, "jobs run twice: %s" % twice
    wait_for(lambda: int(r.get("stat:processed") or 0) >= 100, what="stat:processed >= 100")
    assert r.zcard("dead") == 0
    d.assert_alive()
    d.term()
    assert d.wait_exit(15) == 0


class ReplyDropProxy:
    """A unix-socket proxy in front of Redis that can swallow Redis's replies and then cut
    every connection: a network failure after Redis ran a command, before its reply came."""

    def __init__(self, workdir, target):
        self.path = os.path.join(workdir, "proxy.sock")
        self.url = "unix://" + self.path
        self.target = target
        self.drop = False
        self.pairs = []
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.connect(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src, dst, is_reply):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if is_reply and self.drop:
                    continue
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.closed = True
        self.listener.close()
        self.cut()


def test_lost_fetch_reply_does_not_strand_the_job(workdir, redis_server, r, nexusd):
    """Redis moves a job into the in-flight list (BLMOVE), the reply is lost with the
    connection; nexusd reconnects. The job must still run: it is the only copy."""
    proxy = ReplyDropProxy(workdir, redis_server.sock)
    d = None
    try:
        d = nexusd(env={"REDIS_URL": proxy.url})
        wait_for(lambda: blocked_in_blmove(r), what="nexusd blocked in BLMOVE")
        proxy.drop = True
        jid = push(r, "noop", ["lost reply"])
        wait_for(lambda: r.llen(d.inflight_key()) == 1, what="job moved in flight by BLMOVE")
        proxy.cut()
        proxy.drop = False
        d.wait_log(r"event=redis_down", timeout=10)
        d.wait_log(r"event=redis_up conn=main", count=2, timeout=10)
        # the connection is back and the process goes on working...
        probe = push(r, "noop", ["after"])
        d.wait_jobs([probe], timeout=10)
        # ...and the job whose fetch reply was lost runs too (or at least goes back to its
        # queue), instead of waiting in the in-flight list of a live process for its restart
        wait_for(lambda: d.lines(event="job", jid=jid) or r.llen("queue:default") == 1,
                 timeout=8, what="the stranded job to run or be requeued; in flight: %s"
                 % r.lrange(d.inflight_key(), 0, -1))
    finally:
        if d is not None:
            d.cleanup()  # before the proxy goes
        proxy.close()


def test_start_while_redis_is_down_then_work_when_it_comes(aof_redis, nexusd_aof):
    d = nexusd_aof(start=False)
    d.start(wait_ready=False)
    d.wait_log(r"event=redis_down conn=main", timeout=10)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        d.assert_alive()
        time.sleep(0.05)
    aof_redis.start()
    r = aof_redis.client()
    d.wait_log(r"event=redis_up conn=main", timeout=15)
    jid = push(r, "noop", [])
    d.wait_jobs([jid], timeout=15)
    wait_for(lambda: r.sismember("processes", d.identity), what="registered")
    d.term()
    assert d.wait_exit(15) == 0
