"""`command` job classes: real child processes, their output, exit and process groups, and the
record of each step in nexus.command_runs, against a real PostgreSQL and redis-server."""
import json
import os
import shutil
import signal
import stat
import time

import pytest

from conftest import NEXUSCTL, NEXUSD, SOURCE_DIR, find_in_zset, make_config, push, run_cmd, \
    term_clean_under_valgrind, wait_for
from pg import PostgresServer

AUDIT_REPORT = os.path.join(SOURCE_DIR, "tests", "data", "npm-audit-10.json")


@pytest.fixture(scope="module")
def pg_server():
    server = PostgresServer().start()
    res = run_cmd([NEXUSD, "migrate"], env={"DATABASE_URL": server.url}, timeout=60)
    assert res.returncode == 0, res.stderr
    yield server
    server.cleanup()


@pytest.fixture
def pg(pg_server):
    if not pg_server.running():
        pg_server.start()
    pg_server.psql("TRUNCATE nexus.command_runs")
    return pg_server


def cmd_nexusd(nexusd, pg, classes, worker=None, env=None, **kw):
    e = {"DATABASE_URL": pg.url}
    e.update(env or {})
    return nexusd(worker, classes=classes, env=e, **kw)


def runs(pg, where="true"):
    """Rows of nexus.command_runs as dicts, oldest step first."""
    text = pg.psql("SELECT coalesce(json_agg(r ORDER BY r.id), '[]') FROM "
                   "(SELECT * FROM nexus.command_runs WHERE %s) r" % where)
    return json.loads(text)


def wait_runs(pg, n, where="true", timeout=15):
    wait_for(lambda: len(runs(pg, where)) >= n, timeout=timeout, what="%d command runs" % n)
    return runs(pg, where)


def script(tmp, name, body):
    """An executable shell script in `tmp`; returns its path."""
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def alive(pid):
    """True while `pid` runs (a zombie awaiting its reaper counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def read_pid(path):
    wait_for(lambda: os.path.exists(path) and open(path).read().strip(), what=path)
    return int(open(path).read())


def dead_job(r, jid):
    wait_for(lambda: find_in_zset(r, "dead", jid), what="job %s in dead" % jid)
    return find_in_zset(r, "dead", jid)[0]


def test_success_captures_output_and_records_the_run(pg, nexusd, r, workdir):
    cls = {"name": "tests.smoke", "command": ["sh", "-c", "echo hello; echo warn >&2; exit 0"],
           "workdir": workdir}
    d = cmd_nexusd(nexusd, pg, [cls])
    jid = push(r, "tests.smoke", [])
    d.wait_jobs([jid])
    row = wait_runs(pg, 1)[0]
    assert row["jid"] == jid and row["class"] == "tests.smoke" and row["queue"] == "default"
    assert (row["attempt"], row["step"], row["nsteps"]) == (1, 1, 1)
    assert row["argv"] == ["sh", "-c", "echo hello; echo warn >&2; exit 0"]
    assert row["workdir"] == workdir
    assert row["status"] == "ok" and row["exit_code"] == 0 and row["signal"] is None
    assert "hello\n" in row["output"] and "warn\n" in row["output"]
    assert row["output_dropped"] == 0 and row["error"] is None and row["result"] is None
    assert row["pid"] > 0 and row["host"] == os.uname().nodename
    assert 0 <= row["duration_ms"] < 10000
    assert not alive(row["pid"])


def test_non_zero_exit_retries_with_the_stderr_tail_then_goes_dead(pg, nexusd, r):
    body = "echo progress; echo 'FAIL src/cart.test.ts' >&2; echo '2 failed' >&2; exit 3"
    classes = [{"name": "tests.retry", "command": ["sh", "-c", body], "max_retries": 1},
               {"name": "tests.dead", "command": ["sh", "-c", body], "max_retries": 0}]
    d = cmd_nexusd(nexusd, pg, classes)
    first = push(r, "tests.retry", [])
    d.wait_jobs([first], outcome="retry")
    wait_for(lambda: find_in_zset(r, "retry", first), what="job in retry")
    job = find_in_zset(r, "retry", first)[0]
    assert job["error_class"] == "NexusCommandFailed"
    assert job["error_message"] == ("step 1/1 (sh -c %s) exited with status 3: "
                                    "FAIL src/cart.test.ts\n2 failed" % body)
    last = push(r, "tests.dead", [])
    d.wait_jobs([last], outcome="dead")
    assert dead_job(r, last)["error_class"] == "NexusCommandFailed"
    rows = wait_runs(pg, 2)
    assert [x["status"] for x in rows] == ["failed", "failed"]
    assert rows[0]["exit_code"] == 3
    assert rows[0]["error"] == job["error_message"]


def test_a_message_cut_inside_a_character_is_still_recorded(pg, nexusd, r):
    """The step's name in the message is cut at 256 bytes, here inside a 2-byte character."""
    cls = {"name": "tests.utf8", "command": ["sh", "-c", "exit 1", "x" + "\u00e9" * 200],
           "max_retries": 0}
    config = make_config(None, [cls]).replace("\\u00e9", "\u00e9")  # raw UTF-8 in the file
    d = nexusd(config, env={"DATABASE_URL": pg.url})
    jid = push(r, "tests.utf8", [])
    d.wait_jobs([jid], outcome="dead")
    row = wait_runs(pg, 1)[0]
    assert row["status"] == "failed"
    assert row["error"].endswith("\u00e9\ufffd...) exited with status 1"), row["error"]
    assert row["argv"][3] == "x" + "\u00e9" * 200


def test_output_keeps_a_bounded_tail_of_ten_megabytes(pg, nexusd, r):
    # pauses so that the two pipes' last lines arrive in a known order
    body = ("head -c 10000000 /dev/zero | tr '\\0' x; echo; sleep 0.3; echo LAST-ERR >&2; "
            "sleep 0.3; echo LAST-STDOUT")
    cls = {"name": "bench.loud", "command": ["sh", "-c", body], "output_limit": 4096}
    d = cmd_nexusd(nexusd, pg, [cls])
    jid = push(r, "bench.loud", [])
    d.wait_jobs([jid], timeout=60)
    row = wait_runs(pg, 1)[0]
    total = 10000000 + 1 + len("LAST-STDOUT\n") + len("LAST-ERR\n")
    assert row["output_dropped"] == total - 4096
    first, rest = row["output"].split("\n", 1)
    assert first == "[nexusd: %d earlier bytes dropped]" % (total - 4096)
    assert len(rest) == 4096
    assert rest.endswith("x\nLAST-ERR\nLAST-STDOUT\n")
    assert d.lines(event="command_end")[0]["dropped_bytes"] == str(total - 4096)


def test_timeout_kills_the_whole_process_group_including_a_grandchild(pg, nexusd, r, workdir):
    """The leader and its background child ignore TERM: KILL follows after kill_grace."""
    body = ("trap '' TERM; sleep 1000 & echo $! > gc.pid; echo $$ > leader.pid; "
            "while :; do sleep 0.1; done")
    cls = {"name": "tests.hang", "command": ["sh", "-c", body], "workdir": workdir,
           "timeout": "1s", "kill_grace": "1s", "max_retries": 0}
    d = cmd_nexusd(nexusd, pg, [cls])
    jid = push(r, "tests.hang", [])
    leader = read_pid(os.path.join(workdir, "leader.pid"))
    grandchild = read_pid(os.path.join(workdir, "gc.pid"))
    d.wait_jobs([jid], outcome="dead", timeout=10)
    assert dead_job(r, jid)["error_class"] == "NexusTimeout"
    d.wait_log(r"event=command_kill .*signal=KILL", timeout=10)
    wait_for(lambda: not alive(leader) and not alive(grandchild), timeout=10,
             what="leader and grandchild gone")
    row = wait_runs(pg, 1)[0]
    assert row["status"] == "timeout" and row["signal"] == "KILL"
    assert row["exit_code"] is None
    assert row["error"].startswith("step 1/1 (sh -c trap") and "timed out after" in row["error"]


def test_stragglers_left_by_a_finished_leader_are_stopped(pg, nexusd, r, workdir):
    """A background process outliving its leader (a dev server) gets TERM; the step ends."""
    body = "sleep 1000 & echo $! > bg.pid; echo started"
    cls = {"name": "tests.leaky", "command": ["sh", "-c", body], "workdir": workdir}
    d = cmd_nexusd(nexusd, pg, [cls])
    jid = push(r, "tests.leaky", [])
    d.wait_jobs([jid], timeout=10)
    bg = read_pid(os.path.join(workdir, "bg.pid"))
    wait_for(lambda: not alive(bg), what="the background sleep gone")
    assert d.lines(event="command_stragglers")
    assert wait_runs(pg, 1)[0]["status"] == "ok"


def test_shutdown_stops_the_child_requeues_the_job_and_records_it(pg, nexusd, r, workdir):
    cls = {"name": "tests.long", "command": ["sh", "-c", "echo $$ > pid; exec sleep 1000"],
           "workdir": workdir, "kill_grace": "5s"}
    d = cmd_nexusd(nexusd, pg, [cls], worker={"shutdown_timeout": "300ms"})
    jid = push(r, "tests.long", [])
    pid = read_pid(os.path.join(workdir, "pid"))
    d.term()
    assert d.wait_exit(20) == 0
    assert not alive(pid)
    queued = [json.loads(j) for j in r.lrange("queue:default", 0, -1)]
    assert [j["jid"] for j in queued] == [jid]
    row = wait_runs(pg, 1)[0]
    assert row["status"] == "cancelled" and row["signal"] == "TERM"
    assert d.lines(event="command_stop", reason="cancelled")


def test_a_missing_executable_or_workdir_fails_with_a_clear_error(pg, nexusd, r, workdir):
    classes = [{"name": "x.missing", "command": ["no-such-program-nexus"], "max_retries": 0,
                "env": ["PATH=/usr/bin:/bin"]},
               {"name": "x.nodir", "command": ["true"], "workdir": "/srv/nexus-sales-absent",
                "max_retries": 0},
               {"name": "x.noexec", "command": [os.path.join(workdir, "nope.sh")],
                "max_retries": 0}]
    d = cmd_nexusd(nexusd, pg, classes)
    jids = [push(r, c["name"], []) for c in classes]
    d.wait_jobs(jids, outcome="dead")
    msgs = [dead_job(r, j)["error_message"] for j in jids]
    assert [dead_job(r, j)["error_class"] for j in jids] == ["NexusCommandNotStarted"] * 3
    assert msgs[0] == ("step 1/1 (no-such-program-nexus) could not start: "
                       "no-such-program-nexus not found in PATH (/usr/bin:/bin)")
    assert msgs[1] == ("step 1/1 (true) could not start: workdir /srv/nexus-sales-absent: "
                       "No such file or directory")
    assert msgs[2].endswith("nope.sh: No such file or directory")
    rows = wait_runs(pg, 3)
    assert {x["status"] for x in rows} == {"spawn_error"}
    assert all(x["pid"] is None and x["exit_code"] is None for x in rows)


def test_env_and_workdir_are_honoured_and_the_environment_is_minimal(pg, nexusd, r, workdir):
    body = ('pwd; echo "CI=$CI"; echo "TOKEN=$NPM_TOKEN"; echo "DB=${DATABASE_URL-unset}"; '
            'echo "JOB=$NEXUS_JID $NEXUS_CLASS $NEXUS_ATTEMPT $NEXUS_STEP"; '
            'echo "ARGS=$NEXUS_JOB_ARGS"; cat <&0')
    cls = {"name": "tests.env", "command": ["sh", "-c", body], "workdir": workdir,
           "env": ["CI=true"], "env_pass": ["NPM_TOKEN"]}
    d = cmd_nexusd(nexusd, pg, [cls], env={"NPM_TOKEN": "tok-123", "SECRET_THING": "s"})
    jid = push(r, "tests.env", ["order-7", {"dry_run": True}])
    d.wait_jobs([jid])
    out = wait_runs(pg, 1)[0]["output"].splitlines()
    assert out == [os.path.realpath(workdir), "CI=true", "TOKEN=tok-123", "DB=unset",
                   "JOB=%s tests.env 1 1/1" % jid, 'ARGS=["order-7",{"dry_run":true}]']


def test_args_never_reach_a_shell(pg, nexusd, r, workdir):
    evil = ["$(touch %s/pwned1)" % workdir, "; touch %s/pwned2" % workdir, "`id`", "a b"]
    classes = [{"name": "x.argv", "command": ["printf", "[%s]\\n"], "args_append": True,
                "workdir": workdir},
               {"name": "x.shell", "shell": "printf '[%s]\\n' \"$@\"", "args_append": True,
                "workdir": workdir}]
    d = cmd_nexusd(nexusd, pg, classes)
    jids = [push(r, "x.argv", evil), push(r, "x.shell", evil)]
    d.wait_jobs(jids)
    rows = wait_runs(pg, 2)
    for row in rows:
        assert row["output"].splitlines() == ["[%s]" % a for a in evil], row
    assert not os.path.exists(os.path.join(workdir, "pwned1"))
    assert not os.path.exists(os.path.join(workdir, "pwned2"))
    bad = push(r, "x.argv", [{"nested": 1}], retry=False)
    d.wait_jobs([bad], outcome="dead")
    assert dead_job(r, bad)["error_message"] == (
        "args[0] must be a string, number or boolean to be appended to the command "
        "(got an object)")


def test_a_sequence_stops_at_the_first_failing_step(pg, nexusd, r, workdir):
    cls = {"name": "tests.nightly",
           "command": [["sh", "-c", "echo unit ok"], ["sh", "-c", "echo e2e broke >&2; exit 4"],
                       ["touch", "third-ran"]],
           "workdir": workdir, "max_retries": 0}
    d = cmd_nexusd(nexusd, pg, [cls])
    jid = push(r, "tests.nightly", [])
    d.wait_jobs([jid], outcome="dead")
    assert dead_job(r, jid)["error_message"] == (
        "step 2/3 (sh -c echo e2e broke >&2; exit 4) exited with status 4: e2e broke")
    rows = wait_runs(pg, 2)
    time.sleep(0.3)
    rows = runs(pg)
    assert [(x["step"], x["nsteps"], x["status"]) for x in rows] == [(1, 3, "ok"),
                                                                     (2, 3, "failed")]
    assert not os.path.exists(os.path.join(workdir, "third-ran"))
    # nexusctl shows the steps, newest first, with their output on request
    res = run_cmd([NEXUSCTL, "runs", "tests.nightly", "--output"], env={"DATABASE_URL": pg.url})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["STARTED", "CLASS", "JID", "STEP", "STATUS", "EXIT", "DURATION",
                                "ERROR"]
    assert lines[1].split()[1:6] == ["tests.nightly", jid, "2/3", "failed", "4"]
    assert lines[2].split()[1:6] == ["tests.nightly", jid, "1/3", "ok", "0"]
    assert "e2e broke" in lines[1]
    assert "\nunit ok\n" in res.stdout
    res = run_cmd([NEXUSCTL, "runs", "--jid", jid, "--json"], env={"DATABASE_URL": pg.url})
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)["runs"]
    assert [(x["step"], x["status"], x["output"]) for x in got] == [(2, "failed", "e2e broke\n"),
                                                                   (1, "ok", "unit ok\n")]
    res = run_cmd([NEXUSCTL, "runs", "no.such.class"], env={"DATABASE_URL": pg.url})
    assert res.returncode == 3 and "no command runs of class no.such.class" in res.stderr


def test_npm_audit_counts_are_stored_and_fail_on_applies(pg, nexusd, r, workdir):
    """A stand-in `npm` in PATH prints a recorded npm 10 report and exits 1, as npm audit
    does when it finds vulnerabilities."""
    script(workdir, "npm", 'test "$1 $2" = "audit --json" || exit 9\n'
                           'echo "npm warn config production Use --omit=dev" >&2\n'
                           'cat %s\nexit 1\n' % AUDIT_REPORT)
    path = "PATH=%s:/usr/bin:/bin" % workdir
    classes = [{"name": "audit.monthly", "command": ["npm", "audit", "--json"], "env": [path],
                "parse": "npm-audit", "fail_on": "high", "max_retries": 0},
               {"name": "audit.lenient", "command": ["npm", "audit", "--json"], "env": [path],
                "parse": "npm-audit", "fail_on": "critical"}]
    d = cmd_nexusd(nexusd, pg, classes)
    strict = push(r, "audit.monthly", [])
    lenient = push(r, "audit.lenient", [])
    d.wait_jobs([strict], outcome="dead")
    d.wait_jobs([lenient])
    job = dead_job(r, strict)
    assert job["error_class"] == "NexusAuditFailed"
    assert job["error_message"] == ("step 1/1 (npm audit --json): 2 high vulnerabilities "
                                    "(fail_on = high; 3 in all)")
    rows = {x["class"]: x for x in wait_runs(pg, 2)}
    want = {"info": 0, "low": 0, "moderate": 1, "high": 2, "critical": 0, "total": 3}
    for row in rows.values():
        assert row["exit_code"] == 1
        assert row["result"]["vulnerabilities"] == want
        assert row["result"]["dependencies"] == 541
        assert row["result"]["packages"] == {"braces": "high", "micromatch": "high",
                                             "postcss": "moderate"}
    assert rows["audit.monthly"]["status"] == "failed"
    assert rows["audit.lenient"]["status"] == "ok"


def test_npm_audit_errors_fail_the_job(pg, nexusd, r, workdir):
    script(workdir, "npm", "echo '{\"error\": {\"code\": \"ENOLOCK\", \"summary\": \"This "
                           "command requires an existing lockfile.\"}}'\nexit 1\n")
    cls = {"name": "audit.monthly", "command": ["npm", "audit", "--json"],
           "env": ["PATH=%s:/usr/bin:/bin" % workdir], "parse": "npm-audit", "max_retries": 0}
    d = cmd_nexusd(nexusd, pg, [cls])
    jid = push(r, "audit.monthly", [])
    d.wait_jobs([jid], outcome="dead")
    assert dead_job(r, jid)["error_message"] == (
        "step 1/1 (npm audit --json): npm audit failed: ENOLOCK: This command requires an "
        "existing lockfile.")


def test_the_job_runs_while_postgresql_is_down(pg, nexusd, r, workdir):
    cls = {"name": "bench.weekly", "command": ["sh", "-c", "echo ran > ran.txt"],
           "workdir": workdir}
    d = cmd_nexusd(nexusd, pg, [cls])
    pg.stop(mode="immediate")
    jid = push(r, "bench.weekly", [])
    d.wait_jobs([jid], timeout=20)
    assert open(os.path.join(workdir, "ran.txt")).read() == "ran\n"
    d.wait_log(r"event=command_run_unrecorded", timeout=10)
    pg.start()


def test_shutdown_kills_a_child_that_ignores_term_before_exiting(pg, nexusd, r, workdir):
    body = "trap '' TERM; echo $$ > pid; while :; do sleep 0.1; done"
    cls = {"name": "tests.stubborn", "command": ["sh", "-c", body], "workdir": workdir,
           "kill_grace": "1s"}
    d = cmd_nexusd(nexusd, pg, [cls], worker={"shutdown_timeout": "200ms"})
    jid = push(r, "tests.stubborn", [])
    pid = read_pid(os.path.join(workdir, "pid"))
    d.term()
    assert d.wait_exit(20) == 0
    assert not alive(pid)
    assert d.lines(event="command_drain")
    assert d.lines(event="command_kill", signal="KILL")
    row = wait_runs(pg, 1)[0]
    assert (row["jid"], row["status"], row["signal"]) == (jid, "cancelled", "KILL")


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind missing")
def test_command_paths_are_clean_under_valgrind(pg, nexusd, r, workdir):
    if "asan" in os.environ.get("NEXUSD", ""):
        pytest.skip("the sanitizer build is checked by ASan itself")
    vg_log = os.path.join(workdir, "valgrind.log")
    script(workdir, "npm", "cat %s; exit 1\n" % AUDIT_REPORT)
    classes = [{"name": "c.ok", "command": [["sh", "-c", "echo a"], ["sh", "-c", "echo b >&2"]],
                "output_limit": 1024, "args_append": True},
               {"name": "c.fail", "shell": "echo nope >&2; exit 2", "max_retries": 0},
               {"name": "c.missing", "command": ["no-such-program-nexus"], "max_retries": 0},
               {"name": "c.audit", "command": ["npm", "audit", "--json"], "parse": "npm-audit",
                "fail_on": "high", "env": ["PATH=%s:/usr/bin:/bin" % workdir],
                "max_retries": 0},
               {"name": "c.hang", "command": ["sh", "-c", "trap '' TERM; sleep 1000 & wait"],
                "timeout": "1s", "kill_grace": "200ms", "max_retries": 0},
               {"name": "c.long", "command": ["sleep", "1000"], "kill_grace": "1s"}]
    d = cmd_nexusd(nexusd, pg, classes, worker={"shutdown_timeout": "100ms"}, start=False)
    d.wrapper = ["valgrind", "--error-exitcode=9", "--leak-check=full",
                 "--errors-for-leak-kinds=definite,indirect", "--log-file=" + vg_log]
    d.start(timeout=60)
    ok = push(r, "c.ok", ["x" * 3000, 7])
    dead = [push(r, c, []) for c in ("c.fail", "c.missing", "c.audit", "c.hang")]
    d.wait_jobs([ok], timeout=60)
    d.wait_jobs(dead, outcome="dead", timeout=60)
    push(r, "c.long", [])
    d.wait_log(r"event=command_start .*class=c\.long", timeout=30)
    term_clean_under_valgrind(d, vg_log)
    assert len(runs(pg)) == 2 + 4 + 1
