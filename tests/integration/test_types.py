"""The classes processes publish with their record, nexusctl enqueue's warning of a class no
live process knows, and `nexusctl types` (the TypeScript declaration of classes and args)."""
import json
import os
import re
import signal

from conftest import NEXUSCTL, NEXUSD, make_config, run_cmd, stays, wait_for


def ctl(redis_server, *args, config=None):
    pre = [NEXUSCTL] + (["-c", config] if config else [])
    res = run_cmd(pre + list(args), env={"REDIS_URL": redis_server.url})
    for mark in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert mark not in res.stderr, res.stderr
    return res


def published(r, d):
    """The classes field of the process's hash, as a list, or None."""
    text = r.hget(d.identity, "classes")
    return json.loads(text) if text else None


def test_processes_publish_their_classes_and_enqueue_warns_of_one_none_knows(
        r, redis_server, nexusd, workdir):
    """A class no live process knows would go to dead (or wait out worker.unknown_class_grace):
    enqueue says so on stderr, exit 0; a class one knows, built in or configured, says
    nothing. A reload publishes the classes it brings."""
    d = nexusd()
    wait_for(lambda: published(r, d) is not None, what="the classes in the process's hash")
    assert "noop" in published(r, d) and "email.welcome" in published(r, d)
    assert "late.class" not in published(r, d)
    res = ctl(redis_server, "enqueue", "late.class")
    assert res.returncode == 0, res.stderr
    assert ("warning: none of the 1 live processes knows class late.class: the one that takes "
            "the job puts it in dead at once (worker.unknown_class_grace is 0 here)"
            in res.stderr), res.stderr
    graced = os.path.join(workdir, "graced.conf")
    with open(graced, "w") as f:
        f.write(make_config({"unknown_class_grace": "45s"}))
    res = ctl(redis_server, "enqueue", "late.class", config=graced)
    assert res.returncode == 0, res.stderr
    assert ("puts it off while it is younger than worker.unknown_class_grace (45s here), then "
            "it goes to dead" in res.stderr), res.stderr
    res = ctl(redis_server, "enqueue", "noop")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    st = json.loads(ctl(redis_server, "stats", "--json").stdout)
    assert "noop" in st["processes"][0]["classes"]

    d.write_config(make_config(classes=[{"name": "late.class", "command": ["true"]}]))
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded")
    wait_for(lambda: "late.class" in (published(r, d) or []), what="the reloaded classes")
    res = ctl(redis_server, "enqueue", "late.class")
    assert res.returncode == 0 and res.stderr == "", res.stderr


def test_no_live_process_gives_the_queue_warning_alone(r, redis_server):
    """With no process at all, who knows the class cannot be said: the queue warning alone."""
    res = ctl(redis_server, "enqueue", "late.class")
    assert res.returncode == 0, res.stderr
    assert "no nexusd process is running" in res.stderr, res.stderr
    assert "knows class" not in res.stderr, res.stderr


def test_classes_are_written_at_start_and_after_the_hash_expired_not_with_every_beat(
        r, nexusd):
    """An idle process on a Redis billed per command pays nothing per beat for its classes: a
    beat writes them only when they changed or the hash holding them had expired."""
    d = nexusd()
    wait_for(lambda: published(r, d) is not None, what="the classes in the process's hash")
    r.hdel(d.identity, "classes")
    assert stays(lambda: published(r, d) is None, 1.0)  # five beats (0.2s): none wrote them
    r.delete(d.identity)  # as when the hash expires (process_ttl)
    wait_for(lambda: published(r, d) is not None, timeout=5, what="the classes written again")


def test_nexusd_t_lists_the_classes_it_runs(nexusd):
    """The list the process publishes: built-in classes and those a handler claims, not a
    class entry that only sets limits."""
    d = nexusd(make_config(classes=[{"name": "ci-nightly", "command": ["true"]},
                                    {"name": "only.settings", "timeout": "1m"}]), start=False)
    res = run_cmd([NEXUSD, "-t", "-c", d.conf])
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if "classes run" in x)
    names = [n.strip() for n in line.split(":", 1)[1].split(",")]
    assert "ci-nightly" in names and "noop" in names and "only.settings" not in names


TYPES_CONF = """
classes = (
  { name = "orders.mark_paid"; args = "uuid, int, float, bool, json, text, timestamptz";
    sql = "SELECT $1::uuid, $2, $3, $4, $5, $6, $7"; },
  { name = "ci-nightly"; command = ["true"]; },
  { name = "hook.it"; url = "http://127.0.0.1:9/x"; secret_env = "HOOK_SECRET"; },
  { name = "email.welcome"; timeout = "2m"; }
);
"""


def test_types_declares_every_class_with_its_args(workdir, redis_server):
    """Names are quoted (dots, dashes), sql types become TypeScript types, undeclared args
    (command, http, noop) and json become unknown; -o writes the same to a file."""
    conf = os.path.join(workdir, "types.conf")
    with open(conf, "w") as f:
        f.write(TYPES_CONF)
    res = run_cmd([NEXUSCTL, "-c", conf, "types"], env={"HOOK_SECRET": "s"})
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert re.search(r"^export type NexusJobs = \{$", out, re.M), out
    assert ('  "orders.mark_paid": readonly [$1: string, $2: number, $3: number, $4: boolean, '
            '$5: unknown, $6: string, $7: string | number];') in out
    assert '  "ci-nightly": readonly unknown[];' in out
    assert '  "hook.it": readonly unknown[];' in out
    assert '  "noop": readonly unknown[];' in out
    assert '  "email.welcome": readonly [userId: number, values?: object];' in out
    assert '  "sleep": readonly [ms: number];' in out
    assert out.count('"email.welcome"') == 1
    dst = os.path.join(workdir, "nexus-jobs.d.ts")
    res = run_cmd([NEXUSCTL, "-c", conf, "types", "-o", dst], env={"HOOK_SECRET": "s"})
    assert res.returncode == 0 and res.stdout == "", res.stderr
    with open(dst) as f:
        assert f.read() == out
    res = run_cmd([NEXUSCTL, "-c", conf, "types", "-o", "/nonexistent/dir/x.d.ts"],
                  env={"HOOK_SECRET": "s"})
    assert res.returncode == 1 and "cannot write /nonexistent/dir/x.d.ts" in res.stderr
