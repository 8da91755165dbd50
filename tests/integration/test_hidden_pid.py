"""A peer of the same host whose pid /proc hides (ProtectProc=invisible: another user's
process) is judged by its heartbeat, not taken for dead: two nexusd on one host and one
redis-server, one as root, the other as nobody with /proc mounted hidepid=invisible in a
mount namespace of its own (docs/operations.md)."""
import os

import pytest

from conftest import oks, push, stays, wait_for

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a mount namespace, "
                                "nexusd as root and as nobody)")

# /proc again in a private mount namespace, showing only the caller's own processes, then
# nexusd as nobody (the arguments after the script)
HIDDEN_PROC = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
               "mount -t proc -o hidepid=invisible proc /proc && "
               'exec setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"', "sh"]

CONF = {"heartbeat_interval": "0.2s", "process_ttl": "5s"}


@needs_root
def test_a_root_peer_hidden_by_hidepid_is_not_taken_for_dead(nexusd, r, workdir,
                                                             redis_server):
    root = nexusd(CONF, name="root", args=["-l", "debug"])
    jid = push(r, "sleep", [7000])
    wait_for(lambda: r.llen(root.inflight_key()) == 1, what="the job in flight on root")

    hidden = nexusd(CONF, name="hidden", args=["-l", "debug"], start=False)
    os.chmod(workdir, 0o777)  # nexusd makes its http socket there
    os.chmod(redis_server.sock, 0o777)
    os.chmod(hidden.conf, 0o644)
    hidden.wrapper = HIDDEN_PROC
    hidden.start()
    # what the test relies on: nobody cannot see root's pid but finds it signalable
    ps = open("/proc/%d/status" % hidden.pid).read()
    assert "\nUid:\t65534\t" in ps, ps
    assert os.readlink("/proc/%d/ns/mnt" % hidden.pid) != os.readlink("/proc/self/ns/mnt")

    def judged_alive():
        root.assert_alive()
        hidden.assert_alive()
        return (not hidden.lines(event="process_dead") and
                not hidden.lines(event="jobs_recovered") and
                r.llen(root.inflight_key()) == 1 and r.llen("queue:default") == 0)

    # several reaper passes of hidden while root beats: its pid check cannot see root
    assert stays(judged_alive, 4.0), hidden.tail()
    root.wait_jobs([jid], timeout=10)
    assert stays(lambda: not hidden.lines(event="process_dead"), 0.5), hidden.tail()
    started = [e for d in (root, hidden) for e in d.lines(event="job_start", jid=jid)]
    assert len(started) == 1, started
    assert oks([root, hidden])[jid] == 1
    assert r.sismember("processes", root.identity)
