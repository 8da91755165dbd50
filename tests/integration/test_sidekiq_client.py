"""Sidekiq's own Ruby client and API (Debian's ruby-sidekiq, 6.4) against nexusd."""
import json
import shutil
import subprocess

import pytest

from conftest import log_time, wait_for


def ruby_has_sidekiq():
    if not shutil.which("ruby"):
        return False
    try:
        return subprocess.run(["ruby", "-e", 'require "sidekiq"'], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not ruby_has_sidekiq(),
                                reason="ruby with the sidekiq gem is not installed "
                                       "(ruby -e 'require \"sidekiq\"' fails)")

PRELUDE = """
$stderr.reopen(File::NULL) # redis-rb 4.8 deprecation warnings
require "sidekiq"
require "sidekiq/api"
require "json"
Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }
"""


def ruby(redis_server, script, **env):
    env.update({"REDIS_URL": redis_server.url, "PATH": "/usr/bin:/bin"})
    res = subprocess.run(["ruby", "-e", PRELUDE + script], capture_output=True, text=True,
                         timeout=60, env=env)
    assert res.returncode == 0, res.stderr + res.stdout
    return json.loads(res.stdout.strip().splitlines()[-1])


PUSH = """
one = Sidekiq::Client.push("class" => "noop", "args" => [1, "x"], "queue" => "default")
bulk = Sidekiq::Client.push_bulk("class" => "noop", "args" => (1..50).map { |i| [i, "b#{i}"] })
at = Time.now.to_f + 1
sched = Sidekiq::Client.push("class" => "noop", "args" => ["later"], "at" => at)
failing = Sidekiq::Client.push("class" => "fail", "args" => ["from ruby"], "retry" => false)
puts JSON.generate({"one" => one, "bulk" => bulk, "sched" => sched, "at" => at,
                    "failing" => failing})
"""

API = """
stats = Sidekiq::Stats.new
ps = Sidekiq::ProcessSet.new
procs = ps.map { |p| {"identity" => p["identity"], "pid" => p["pid"], "queues" => p["queues"],
                      "concurrency" => p["concurrency"], "quiet" => p["quiet"],
                      "busy" => p["busy"]} }
dead = Sidekiq::DeadSet.new
entry = dead.find_job(ENV.fetch("DEAD_JID", ""))
puts JSON.generate({
  "processed" => stats.processed, "failed" => stats.failed, "dead_size" => stats.dead_size,
  "retry_size" => stats.retry_size, "scheduled_size" => stats.scheduled_size,
  "enqueued" => stats.enqueued, "today" => Sidekiq::Stats::History.new(1).processed.values.first,
  "process_set_size" => ps.size, "processes" => procs, "dead_set_size" => dead.size,
  "dead_entry" => entry && {"jid" => entry.jid, "klass" => entry.klass, "args" => entry.args,
                            "error_class" => entry["error_class"],
                            "error_message" => entry["error_message"]},
  "workers_size" => Sidekiq::Workers.new.size,
})
"""


def test_sidekiq_client_pushes_run_and_sidekiq_api_reads_nexusd(redis_server, r, nexusd):
    d = nexusd()
    pushed = ruby(redis_server, PUSH)
    jids = [pushed["one"]] + pushed["bulk"] + [pushed["sched"]]
    assert len(set(jids)) == 52
    lines = d.wait_jobs(jids, timeout=20)
    assert log_time(lines[pushed["sched"]]) >= pushed["at"] - 0.002, "scheduled job ran early"
    d.wait_jobs([pushed["failing"]], outcome="dead")
    wait_for(lambda: r.get("stat:processed") == "53" and r.zcard("dead") == 1,
             what="outcomes written")

    # a job in flight, for the busy counters
    r.lpush("queue:default", json.dumps({"class": "sleep", "args": [10000], "jid": "f" * 24,
                                         "queue": "default", "retry": False}))
    wait_for(lambda: r.hget(d.identity, "busy") == "1", what="busy=1 in the heartbeat")

    api = ruby(redis_server, API, DEAD_JID=pushed["failing"])
    assert api["processed"] == 53
    assert api["failed"] == 1
    assert api["today"] == 53
    assert api["dead_size"] == 1 and api["dead_set_size"] == 1
    assert api["retry_size"] == 0 and api["scheduled_size"] == 0
    assert api["enqueued"] == 0
    assert api["process_set_size"] == 1
    assert api["processes"] == [{"identity": d.identity, "pid": d.pid, "queues": ["default"],
                                 "concurrency": 10, "quiet": "false", "busy": 1}]
    assert api["workers_size"] == 1
    assert api["dead_entry"] == {"jid": pushed["failing"], "klass": "fail",
                                 "args": ["from ruby"], "error_class": "NexusFail",
                                 "error_message": "from ruby"}


RETRY_DEAD = """
e = Sidekiq::DeadSet.new.find_job(ENV.fetch("DEAD_JID"))
e.retry
puts JSON.generate({"retried" => e.jid})
"""


def test_sidekiq_api_retry_of_a_dead_job_runs_it_again(redis_server, r, nexusd):
    d = nexusd()
    pushed = ruby(redis_server, PUSH)
    jid = pushed["failing"]
    d.wait_jobs([jid], outcome="dead")
    wait_for(lambda: r.zcard("dead") == 1, what="job in dead")
    # Sidekiq's "Retry" (API and Web UI) lowers retry_count by one before pushing: a job
    # that failed once comes back with "retry_count": -1, which Sidekiq itself runs.
    assert ruby(redis_server, RETRY_DEAD, DEAD_JID=jid) == {"retried": jid}
    wait_for(lambda: len(d.lines(event="job", jid=jid, outcome="dead")) == 2, timeout=10,
             what="the retried job to run (and fail) again")
    second = d.lines(event="job", jid=jid, outcome="dead")[1]
    assert second.get("error_class") == "NexusFail" and second.get("attempt") == "1", \
        "the retried job was not run: %s" % second
    wait_for(lambda: r.zcard("dead") == 1, what="job back in dead")
    job = json.loads(r.zrange("dead", 0, -1)[0])
    assert job["error_class"] == "NexusFail" and job["retry_count"] == 0
