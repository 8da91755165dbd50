"""What a `command` child can take from nexusd: not its environment or memory (nexusd is not
dumpable; a class's `user` runs the child as another uid), not its options (a job's args that
start with '-' are refused unless the class says `args_options = true`), not its raised
descriptor limit (a child starts with the one nexusd started with). Real children,
real redis-server, nexusd as root and as an unprivileged user."""
import os
import pwd
import resource
import shutil

import pytest

from conftest import find_in_zset, push, run_cmd, term_clean_under_valgrind, wait_for, NEXUSD

MARK = "hunter2-nexus-secret-mark"  # in nexusd's environment; must never reach a job's output

# Prints what the child is and what it could read of its parent (nexusd: $PPID), on one line
# each, then fails so that the lines become the dead job's error_message.
PROBE = ("exec 2>/dev/null; "
         "echo \"uid=$(id -u) gid=$(id -g) groups=$(id -G) home=$HOME user=$USER\"; "
         "if e=$(tr '\\0' '\\n' </proc/$PPID/environ); then "
         "echo \"environ=read marks=$(printf '%s' \"$e\" | grep -c '" + MARK[:8] + "''" +
         MARK[8:] + "')\"; "
         "else echo environ=denied; fi; "
         "if head -c1 /proc/$PPID/mem >/dev/null; then echo mem=read; else echo mem=denied; fi; "
         "exit 3")

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (to start nexusd as "
                                "root and as nobody)")


def dead_job(r, jid):
    wait_for(lambda: find_in_zset(r, "dead", jid), what="job %s in dead" % jid)
    return find_in_zset(r, "dead", jid)[0]


def probe_lines(job):
    """{'uid': '65534', 'environ': 'denied', ...} from the PROBE's lines in the message."""
    msg = job["error_message"]
    assert MARK not in msg
    out = {}
    for line in msg.split("exited with status 3: ", 1)[1].splitlines():
        for word in line.split():
            if "=" in word:
                k, v = word.split("=", 1)
                out.setdefault(k, v)
    return out


def unprivileged(d, workdir, redis_server):
    """Makes `d` (not started) run as nobody: setpriv drops root before exec; the test's
    directory (writable: its http socket), redis socket and config become usable by nobody."""
    os.chmod(workdir, 0o777)  # nexusd makes its http socket there
    os.chmod(redis_server.sock, 0o777)
    os.chmod(d.conf, 0o644)
    d.wrapper = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    d.env["SMTP_PASSWORD"] = MARK


@needs_root
def test_a_child_as_user_nobody_cannot_read_root_nexusds_environment(nexusd, r, workdir):
    token = os.path.join(workdir, "token")
    with open(token, "w") as f:
        f.write(MARK + "\n")
    os.chmod(token, 0o600)
    os.chmod(workdir, 0o755)  # the file's own mode is what protects it
    classes = [{"name": "probe.nobody", "shell": PROBE, "user": "nobody", "max_retries": 0},
               {"name": "probe.group", "shell": PROBE, "user": "nobody", "group": "daemon",
                "max_retries": 0},
               {"name": "probe.file", "command": ["cat", token], "user": "nobody",
                "max_retries": 0}]
    d = nexusd(classes=classes, env={"SMTP_PASSWORD": MARK})
    assert MARK in open("/proc/%d/environ" % d.pid, "rb").read().decode("utf-8", "replace")
    jids = [push(r, "probe.nobody", []), push(r, "probe.group", []), push(r, "probe.file", [])]
    d.wait_jobs(jids, outcome="dead")
    assert dead_job(r, jids[2])["error_message"] == (
        "step 1/1 (cat %s) exited with status 1: cat: %s: Permission denied" % (token, token))
    got = probe_lines(dead_job(r, jids[0]))
    assert (got["uid"], got["gid"], got["groups"]) == ("65534", "65534", "65534"), got
    assert (got["home"], got["user"]) == (pwd.getpwnam("nobody").pw_dir, "nobody"), got
    assert (got["environ"], got["mem"]) == ("denied", "denied"), got
    got = probe_lines(dead_job(r, jids[1]))
    assert (got["uid"], got["gid"], got["groups"]) == ("65534", "1", "1"), got
    assert got["environ"] == "denied", got
    assert MARK not in d.text()


@needs_root
def test_root_nexusd_warns_of_command_classes_that_would_run_as_root(nexusd):
    d = nexusd(classes=[{"name": "c.root", "shell": "id"},
                        {"name": "c.nobody", "shell": "id", "user": "nobody"},
                        {"name": "not.command", "max_retries": 1}])
    warned = [e["class"] for e in d.lines(event="command_as_root")]
    assert warned == ["c.root"]
    assert d.lines(event="command_as_root")[0]["level"] == "warn"


@needs_root
def test_nexusd_is_not_dumpable_so_a_child_of_its_own_uid_reads_nothing(nexusd, r, workdir,
                                                                        redis_server):
    d = nexusd(classes=[{"name": "probe.same", "shell": PROBE, "max_retries": 0}], start=False)
    unprivileged(d, workdir, redis_server)
    d.start()
    assert not d.lines(event="command_as_root")  # not root: nothing to warn of
    nobody = pwd.getpwnam("nobody").pw_uid
    assert os.stat("/proc/%d" % d.pid).st_uid == nobody  # it does run as nobody
    # a process that is not dumpable has its /proc files owned by root (proc(5))
    assert os.stat("/proc/%d/environ" % d.pid).st_uid == 0
    jid = push(r, "probe.same", [])
    d.wait_jobs([jid], outcome="dead")
    got = probe_lines(dead_job(r, jid))
    assert got["uid"] == str(nobody), got  # same uid as nexusd: only dumpable protects it
    assert (got["environ"], got["mem"]) == ("denied", "denied"), got


@needs_root
def test_user_is_refused_when_nexusd_is_not_root(nexusd, workdir, redis_server):
    d = nexusd(classes=[{"name": "probe.nobody", "shell": "id", "user": "nobody"}], start=False)
    unprivileged(d, workdir, redis_server)
    d.start(wait_ready=False)
    assert d.wait_exit() == 2
    assert ("%s:2: class probe.nobody has user = \"nobody\": nexusd must run as root to start "
            "its children as another user (it runs as uid %d)"
            % (d.conf, pwd.getpwnam("nobody").pw_uid)) in d.text()


def test_unknown_user_and_passed_secrets_are_config_errors(workdir):
    conf = os.path.join(workdir, "bad.conf")
    cases = [
        ('classes = ( { name = "a"; shell = "id";\n user = "no-such-user-nx"; } );',
         ':2: classes[0].user: "no-such-user-nx" is no user of this system'),
        ('classes = ( { name = "a"; shell = "id";\n env_pass = ["SMTP_PASSWORD"]; } );',
         ":2: classes[0].env_pass[0]: SMTP_PASSWORD is one of nexusd's own secrets and is never "
         "passed to a child"),
    ]
    for text, want in cases:
        with open(conf, "w") as f:
            f.write(text + "\n")
        res = run_cmd([NEXUSD, "-c", conf, "--check-config"])
        assert res.returncode == 2 and conf + want in res.stderr, res.stderr


@needs_root
def test_a_user_child_enters_its_workdir_with_its_own_rights(nexusd, r, workdir):
    private = os.path.join(workdir, "private")
    os.mkdir(private, 0o700)
    d = nexusd(classes=[{"name": "c.private", "command": ["true"], "workdir": private,
                         "user": "nobody", "max_retries": 0}])
    jid = push(r, "c.private", [])
    d.wait_jobs([jid], outcome="dead")
    job = dead_job(r, jid)
    assert job["error_class"] == "NexusCommandNotStarted"
    assert job["error_message"] == ("step 1/1 (true) could not start: workdir %s as user nobody: "
                                    "Permission denied" % private)


# The child's descriptor limits, then a failure so that the line becomes the message.
LIMITS = 'echo "soft=$(ulimit -Sn) hard=$(ulimit -Hn)"; exit 3'


def nofile_of(pid):
    """(soft, hard) RLIMIT_NOFILE of process `pid`, from /proc/PID/limits."""
    for line in open("/proc/%d/limits" % pid):
        if line.startswith("Max open files"):
            return tuple(int(x) for x in line.split()[3:5])
    raise AssertionError("no Max open files in /proc/%d/limits" % pid)


@needs_root
def test_children_start_with_the_descriptor_limit_nexusd_started_with(nexusd, r):
    """httpd raises nexusd's soft RLIMIT_NOFILE to fit http.max_connections (4096 by default);
    a child gets the one nexusd started with: select() fails on descriptors from 1024 on."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]  # ours: raising it may be denied
    if hard < 8192:
        pytest.skip("hard RLIMIT_NOFILE %d is below 8192" % hard)
    classes = [{"name": "limits", "shell": LIMITS, "max_retries": 0},
               {"name": "limits.nobody", "shell": LIMITS, "user": "nobody", "max_retries": 0}]
    raised = nexusd(classes=classes, name="raised", start=False)
    raised.wrapper = ["prlimit", "--nofile=1024:%d" % hard, "--"]
    raised.start()
    raised.wait_log(r"event=http_nofile_raised nofile=4352 max_connections=4096")
    assert nofile_of(raised.pid) == (4352, hard)
    jids = [push(r, "limits", []), push(r, "limits.nobody", [])]
    raised.wait_jobs(jids, outcome="dead")
    for jid in jids:
        assert probe_lines(dead_job(r, jid)) == {"soft": "1024", "hard": str(hard)}, jid

    # a limit that already fits is not raised, and the child has it as it is
    kept = nexusd(classes=classes, name="kept", start=False)
    kept.wrapper = ["prlimit", "--nofile=8192:%d" % hard, "--"]
    kept.start()
    raised.term()
    raised.wait_exit()
    jid = push(r, "limits", [])
    kept.wait_jobs([jid], outcome="dead")
    assert not kept.lines(event="http_nofile_raised")
    assert probe_lines(dead_job(r, jid)) == {"soft": "8192", "hard": str(hard)}


@pytest.mark.skipif(not shutil.which("tar"), reason="tar missing")
def test_job_args_cannot_choose_the_programs_options(nexusd, r, workdir):
    with open(os.path.join(workdir, "notes.txt"), "w") as f:
        f.write("notes\n")
    pwned = os.path.join(workdir, "pwned")
    tar = ["tar", "-cf", os.path.join(workdir, "out.tar")]
    classes = [{"name": "backup", "command": tar, "args_append": True, "workdir": workdir,
                "max_retries": 3},
               {"name": "backup.sh", "shell": 'exec tar -cf out.tar "$@"', "args_append": True,
                "workdir": workdir, "max_retries": 3},
               {"name": "backup.options", "command": tar, "args_append": True,
                "args_options": True, "workdir": workdir, "max_retries": 0}]
    d = nexusd(classes=classes)
    evil = ["notes.txt", "--checkpoint=1", "--checkpoint-action=exec=touch " + pwned]
    jids = [push(r, "backup", evil), push(r, "backup.sh", evil)]
    d.wait_jobs(jids, outcome="dead")
    for jid, cls in zip(jids, ("backup", "backup.sh")):
        job = dead_job(r, jid)
        assert job["error_class"] == "ArgumentError"
        assert job["error_message"] == (
            "args[1] starts with '-': the job would choose an option of the program, which "
            "class %s does not allow (args_options = true does)" % cls)
        assert job.get("retry_count", 0) == 0  # refused once: no retry can change the args
    assert not os.path.exists(pwned)
    assert not d.lines(event="command_start")  # nothing was started
    ok = push(r, "backup", ["notes.txt"])
    d.wait_jobs([ok])
    # the attack is real: a class that lets jobs choose options runs it
    opened = push(r, "backup.options", evil)
    d.wait_jobs([opened])
    wait_for(lambda: os.path.exists(pwned), what="tar's checkpoint action")


@needs_root
@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind missing")
def test_the_user_paths_are_clean_under_valgrind(nexusd, r, workdir):
    if "asan" in os.environ.get("NEXUSD", ""):
        pytest.skip("the sanitizer build is checked by ASan itself")
    vg_log = os.path.join(workdir, "valgrind.log")
    private = os.path.join(workdir, "private")
    os.mkdir(private, 0o700)
    classes = [{"name": "u.ok", "command": ["id", "-u"], "user": "nobody", "group": "daemon",
                "args_append": True},
               {"name": "u.denied", "command": ["true"], "user": "nobody", "workdir": private,
                "max_retries": 0},
               {"name": "u.missing", "command": ["/no/such/program"], "user": "nobody",
                "max_retries": 0},
               {"name": "u.refused", "command": ["true"], "args_append": True}]
    d = nexusd(classes=classes, start=False)
    d.wrapper = ["valgrind", "--error-exitcode=9", "--leak-check=full",
                 "--errors-for-leak-kinds=definite,indirect", "--log-file=" + vg_log]
    d.start(timeout=60)
    ok = push(r, "u.ok", [])
    dead = [push(r, "u.denied", []), push(r, "u.missing", []), push(r, "u.refused", ["-x"])]
    d.wait_jobs([ok], timeout=60)
    d.wait_jobs(dead, outcome="dead", timeout=60)
    assert [dead_job(r, j)["error_class"] for j in dead] == [
        "NexusCommandNotStarted", "NexusCommandNotStarted", "ArgumentError"]
    term_clean_under_valgrind(d, vg_log)
