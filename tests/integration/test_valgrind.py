"""The daemon's main paths under valgrind's memcheck: no error and no leak from start to a
clean stop, through success, retry, dead (invalid JSON, unknown class, bad args), a timeout,
scheduled and retried jobs, an http class (answered, and cut by its timeout), a reload, quiet,
a drain with a job interrupted, and every HTTP route."""
import json
import os
import shutil
import signal

import pytest

from conftest import make_config, push, push_raw, wait_for
from http_peer import Peer
from httpc import get, http_address, raw_socket, request

pytestmark = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind missing")


def test_main_paths_are_clean_under_valgrind(nexusd, r, workdir):
    if "asan" in os.environ.get("NEXUSD", ""):
        pytest.skip("the sanitizer build is checked by ASan itself")
    vg_log = os.path.join(workdir, "valgrind.log")
    peer = Peer(lambda req: (200, {}, b"ok", 4 if b"slow" in req["body"] else 0))
    hook = {"name": "app.hook", "url": peer.url + "/hook", "secret_env": "VG_SECRET",
            "timeout": "1s"}
    config = make_config({"concurrency": 10, "shutdown_timeout": "0.1s", "poll_interval": "0.1s"},
                         classes=[{"name": "sleep", "timeout": "1s"}, hook])
    d = nexusd(config, start=False, env={"VG_SECRET": "valgrind"})
    d.args = []
    d.wrapper = ["valgrind", "--error-exitcode=9", "--leak-check=full",
                 "--errors-for-leak-kinds=definite,indirect", "--log-file=" + vg_log]
    d.start(timeout=60)
    jids = [push(r, "noop", []), push(r, "fail", ["boom"], retry=1),
            push(r, "nope", []), push(r, "sleep", [5000]), push(r, "sleep", [10]),
            push(r, "app.hook", ["fast"]), push(r, "app.hook", ["slow"], retry=False)]
    push_raw(r, "not json")
    push_raw(r, '{"class":"noop","args":"x","jid":"badargs"}')
    r.zadd("schedule", {'{"class":"noop","args":[],"jid":"sched1"}': 0})
    d.wait_jobs([jids[0], jids[4], jids[5], "sched1"], timeout=60)
    d.wait_jobs([jids[6]], outcome="dead", timeout=60)
    d.wait_jobs([jids[1], jids[3]], outcome="retry", timeout=60)
    # their outcome calls landed (by jid: on a loaded machine the fast hook may time out too)
    wait_for(lambda: {jids[1], jids[3]} <= {json.loads(m)["jid"] for m in r.zrange("retry", 0, -1)},
             timeout=60, what="both in retry")
    r.zadd("retry", {m: 0 for m in r.zrange("retry", 0, -1)})  # retry both now
    d.wait_jobs([jids[1]], outcome="dead", timeout=60)
    # the HTTP endpoint: every route, errors, a body, and a connection left open at the stop
    addr = http_address(d)
    for path, status in (("/healthz", 200), ("/readyz", 200), ("/metrics", 200),
                         ("/status", 200), ("/nope", 404)):
        assert get(addr, path, timeout=30).status == status, path
    assert request(addr, "POST", "/status", body=b"x" * 100, timeout=30).status == 405
    assert request(addr, "POST", "/status", body=b"x" * 70000, timeout=30).status == 413
    idle = raw_socket(addr, timeout=30)
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded", timeout=30)
    push(r, "sleep", [20000])
    wait_for(lambda: any(r.llen(k) for k in r.keys("nexus:inflight:*")), timeout=30,
             what="a long job in flight")
    d.signal(signal.SIGUSR1)
    d.wait_log(r"event=quiet", timeout=30)
    d.term()
    assert d.wait_exit(120) == 0, open(vg_log).read()[-3000:]
    idle.close()
    assert d.lines(event="job_interrupted") and d.lines(event="requeued")
    peer.close()
    report = open(vg_log).read()
    assert "ERROR SUMMARY: 0 errors" in report, report[-3000:]
    assert "definitely lost: 0 bytes" in report or "All heap blocks were freed" in report, \
        report[-3000:]
