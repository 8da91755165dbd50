"""systemd integration for real: nexusd speaks the notification protocol to a datagram socket
named by NOTIFY_SOCKET (as systemd would listen), with the watchdog asked through
WATCHDOG_USEC/WATCHDOG_PID; and the unit file passes systemd-analyze verify."""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import NEXUSD, SOURCE_DIR, wait_for


class NotifySocket:
    """The receiving end of sd_notify(): one datagram per message."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.05)
        self.messages = []  # (monotonic time, {key: value})

    def poll(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return
            fields = dict(l.split("=", 1) for l in data.decode().splitlines() if "=" in l)
            self.messages.append((time.monotonic(), fields))

    def with_key(self, key, value=None):
        self.poll()
        return [(t, m) for t, m in self.messages
                if key in m and (value is None or m[key] == value)]

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(workdir):
    s = NotifySocket(os.path.join(workdir, "notify.sock"))
    yield s
    s.close()


def start(nexusd, notify, watchdog_usec=None, **kw):
    env = {"NOTIFY_SOCKET": notify.path}
    n = nexusd(start=False, env=env, **kw)
    if watchdog_usec:
        # WATCHDOG_PID must be nexusd's own pid: exec through a shell that sets it
        n.wrapper = ["/bin/sh", "-c", 'WATCHDOG_PID=$$ WATCHDOG_USEC=%d exec "$@"'
                     % watchdog_usec, "sh"]
    n.start()
    return n


def test_ready_after_redis_status_and_stopping(nexusd, notify, redis_server):
    redis_server.shutdown()  # nexusd starts without Redis: not ready yet
    n = nexusd(start=False, env={"NOTIFY_SOCKET": notify.path})
    n.start(wait_ready=False)
    n.wait_log(r"event=start ", 10)
    time.sleep(0.5)
    assert not notify.with_key("READY"), notify.messages
    redis_server.start()
    wait_for(lambda: notify.with_key("READY", "1"), 15, what="READY=1")
    t_ready, msg = notify.with_key("READY", "1")[0]
    assert msg["STATUS"].startswith("running; 0 of 10 jobs running")
    n.wait_ready()
    # the loss of Redis shows in STATUS, without a second READY
    redis_server.shutdown()
    wait_for(lambda: any(m.get("STATUS", "").startswith("redis unreachable")
                         for _, m in notify.with_key("STATUS")), 10, what="STATUS unreachable")
    redis_server.start()
    wait_for(lambda: notify.with_key("STATUS")[-1][1]["STATUS"].startswith("running"), 15,
             what="STATUS running again")
    # reload: RELOADING=1 then READY=1
    n.signal(signal.SIGHUP)
    wait_for(lambda: notify.with_key("RELOADING", "1"), 10, what="RELOADING=1")
    wait_for(lambda: len(notify.with_key("READY", "1")) == 2, 10, what="READY=1 after reload")
    t_reload = notify.with_key("RELOADING", "1")[0][0]
    assert notify.with_key("READY", "1")[1][0] >= t_reload
    assert "MONOTONIC_USEC" in notify.with_key("RELOADING", "1")[0][1]
    # SIGTERM: STOPPING=1 as the drain begins
    n.term()
    wait_for(lambda: notify.with_key("STOPPING", "1"), 10, what="STOPPING=1")
    assert n.wait_exit() == 0


def test_watchdog_pings_from_the_loop(nexusd, notify, r):
    n = start(nexusd, notify, watchdog_usec=400000)
    n.wait_log(r"event=watchdog interval=0\.200s", 5)
    wait_for(lambda: len(notify.with_key("WATCHDOG", "1")) >= 8, 10, what="8 pings")
    times = [t for t, _ in notify.with_key("WATCHDOG", "1")]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) < 0.4, gaps  # within the watchdog's interval
    # a stopped loop stops the pings: what lets systemd kill a stuck nexusd
    n.signal(signal.SIGSTOP)
    try:
        count = len(notify.with_key("WATCHDOG", "1"))
        time.sleep(1.0)
        assert len(notify.with_key("WATCHDOG", "1")) <= count + 1
    finally:
        n.signal(signal.SIGCONT)
    wait_for(lambda: len(notify.with_key("WATCHDOG", "1")) >= count + 3, 10,
             what="pings again")


def test_no_watchdog_for_another_pid(nexusd, notify):
    # WATCHDOG_PID of another process: the watchdog is not ours, no pings
    n = nexusd(start=False, env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000",
                                 "WATCHDOG_PID": "1"})
    n.start()
    wait_for(lambda: notify.with_key("READY", "1"), 10, what="READY=1")
    time.sleep(0.6)
    assert not notify.with_key("WATCHDOG")
    assert not n.lines(event="watchdog")


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_unit_file_verifies(workdir):
    unit = os.path.join(SOURCE_DIR, "packaging", "nexusd.service")
    text = open(unit).read()
    assert "Type=notify" in text and "WatchdogSec=" in text
    # verify resolves ExecStart: point it at the built binary in a copy of the unit
    copy = os.path.join(workdir, "nexusd.service")
    with open(copy, "w") as f:
        f.write(text.replace("/usr/local/bin/nexusd", os.path.abspath(NEXUSD)))
    res = subprocess.run(["systemd-analyze", "verify", copy], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "nexusd.service" not in res.stdout + res.stderr, res.stdout + res.stderr
