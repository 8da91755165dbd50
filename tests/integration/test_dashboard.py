"""The dashboard: its page and assets, the read endpoints, the token-guarded actions over real
HTTP (401/403/404/200 and their log lines), and the page in Debian's chromium driven by
playwright-core (tests/browser)."""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import NEXUSCTL, make_job, push, wait_for
from httpc import get, http_address, request

TOKEN = "test-token-5f2c9a71e0b34d86"
SOURCE = os.environ.get("NEXUS_SOURCE_DIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BROWSER_DIR = os.path.join(SOURCE, "tests", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def http_group(token_file=None):
    s = 'listen = "127.0.0.1:0";'
    if token_file:
        s += ' token_file = "%s";' % token_file
    return "http = { %s };" % s


@pytest.fixture
def token_file(workdir):
    path = os.path.join(workdir, "token")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(path, 0o600)
    return path


def start(nexusd, token_file=None, worker=None, schedules=""):
    # the caller's NEXUS_HTTP_TOKEN must not decide the mode: "" counts as unset
    n = nexusd(worker or {}, extra=http_group(token_file) + schedules,
               env={"NEXUS_HTTP_TOKEN": ""})
    return n, http_address(n)


def auth(token=TOKEN):
    return {"Authorization": "Bearer " + token, "Content-Type": "application/json"}


def make_dead(r, n, message="boom", queue="default"):
    """A job of the builtin class fail with retry false: it goes straight to dead."""
    jid = push(r, "fail", [message], queue=queue, retry=False)
    n.wait_log(r"event=job jid=%s .*outcome=dead" % jid, 15)
    wait_for(lambda: r.zcard("dead") >= 1, 10, what="a dead job")
    return jid


def actions(n):
    # nexusd writes its log once per loop iteration, which may come after the answer went
    # out: one more round trip makes sure the iteration of the last action has ended
    assert request(http_address(n), "GET", "/healthz").status in (200, 503)
    return n.lines(event="dashboard_action")


def schedule(r, cls, args, when, queue="default", **fields):
    """A job pushed to run at `when` as a Sidekiq client's perform_at does: "at" set, no
    enqueued_at, ZADD schedule WHEN JOB. Returns the job dict."""
    job = make_job(cls, args, queue=queue, enqueued_at=None, at=when, **fields)
    r.zadd("schedule", {json.dumps(job): when})
    return job


def ctl_enqueue_in(redis_server, *args):
    """nexusctl enqueue ... --in: the operators' way into the schedule. Returns the jid."""
    env = dict(os.environ, REDIS_URL=redis_server.url)
    res = subprocess.run([NEXUSCTL, "enqueue"] + list(args), capture_output=True, text=True,
                         timeout=30, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


# ---- page and assets -----------------------------------------------------------------------


def test_page_and_assets_are_served_with_a_strict_policy(nexusd):
    n, addr = start(nexusd)
    res = get(addr, "/")
    assert res.status == 200
    assert res.header("content-type") == "text/html; charset=utf-8"
    csp = res.header("content-security-policy")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert res.header("x-frame-options") == "DENY"
    body = res.body.decode()
    assert '<script src="/dashboard/app.js" defer></script>' in body
    assert "<script>" not in body and "style=" not in body and "http" not in body.split(
        "<body>")[1].split("Refreshes")[0].replace("https", "")
    with open(os.path.join(SOURCE, "daemon", "dashboard", "index.html"), "rb") as f:
        assert res.body == f.read()
    js = get(addr, "/dashboard/app.js")
    assert js.status == 200 and js.header("content-type") == "text/javascript; charset=utf-8"
    with open(os.path.join(SOURCE, "daemon", "dashboard", "app.js"), "rb") as f:
        assert js.body == f.read()  # '?' and '\' survive the embedding byte for byte
    css = get(addr, "/dashboard/app.css")
    assert css.status == 200 and css.header("content-type") == "text/css; charset=utf-8"
    assert get(addr, "/dashboard/nope.js").status == 404
    assert get(addr, "/nope").status == 404
    assert get(addr, "/favicon.ico").status == 204  # no icon, and no 404 in the console
    # status's routes still win over the page's catch-all
    assert get(addr, "/healthz").status == 200
    assert get(addr, "/status").status == 200


# ---- reads ---------------------------------------------------------------------------------


def test_dead_and_retry_lists_show_the_errors(r, nexusd):
    n, addr = start(nexusd)
    jids = [make_dead(r, n, "bad %d" % i) for i in range(3)]
    res = get(addr, "/api/dead?limit=2")
    assert res.status == 200
    body = res.json()
    assert body["set"] == "dead" and body["size"] == 3 and len(body["jobs"]) == 2
    newest = body["jobs"][0]
    assert newest["jid"] == jids[-1]  # newest first
    assert newest["class"] == "fail" and newest["queue"] == "default"
    assert newest["error_class"] == "NexusFail" and newest["error_message"] == "bad 2"
    assert newest["failed_at"] > 0 and newest["score"] > 0 and newest["invalid"] is None
    assert get(addr, "/api/dead?offset=2&limit=2").json()["jobs"][0]["jid"] == jids[0]

    later = time.time() + 3600
    job = make_job("fail", ["x"], retry=5, retry_count=1, error_class="E", error_message="m<b>",
                   failed_at=time.time())
    r.zadd("retry", {json.dumps(job): later})
    retry = get(addr, "/api/retry").json()
    assert retry["size"] == 1 and retry["jobs"][0]["error_message"] == "m<b>"
    assert retry["jobs"][0]["retry_count"] == 1
    assert abs(retry["jobs"][0]["score"] - later) < 0.01

    for bad in ("limit=0", "limit=1001", "offset=-1", "limit=x"):
        res = get(addr, "/api/dead?" + bad)
        assert res.status == 400, bad
    assert get(addr, "/api/auth").json() == {"read_only": True, "token": "none"}


def test_scheduled_list_shows_the_jobs_due_soonest_first(r, nexusd, redis_server):
    n, addr = start(nexusd)
    assert get(addr, "/api/scheduled").json() == {"set": "schedule", "size": 0, "offset": 0,
                                                  "limit": 50, "truncated": False, "jobs": []}
    now = time.time()
    late = schedule(r, "noop", [{"to": "<b>x</b>"}, 2], now + 7200, queue="mail")
    soon = schedule(r, "noop", ["a"], now + 600, queue="reports", retry_count=2)
    jid = ctl_enqueue_in(redis_server, "noop", '["from ctl"]', "--queue", "later", "--in", "1h")
    r.zadd("schedule", {"not a job": now + 9000})

    body = get(addr, "/api/scheduled").json()
    assert body["set"] == "schedule" and body["size"] == 4 and body["offset"] == 0
    assert [j["jid"] for j in body["jobs"][:3]] == [soon["jid"], jid, late["jid"]]
    first = body["jobs"][0]
    assert first["class"] == "noop" and first["queue"] == "reports" and first["args"] == ["a"]
    assert first["retry_count"] == 2 and first["invalid"] is None
    assert abs(first["score"] - (now + 600)) < 0.01  # when it runs: the score
    assert body["jobs"][1]["queue"] == "later" and body["jobs"][1]["args"] == ["from ctl"]
    assert abs(body["jobs"][1]["score"] - (now + 3600)) < 60
    assert body["jobs"][2]["args"] == [{"to": "<b>x</b>"}, 2]  # as stored, not escaped
    assert body["jobs"][3]["invalid"] and body["jobs"][3]["score"] == now + 9000

    page = get(addr, "/api/scheduled?offset=1&limit=2").json()
    assert page["size"] == 4 and page["offset"] == 1
    assert [j["jid"] for j in page["jobs"]] == [jid, late["jid"]]
    for bad in ("limit=0", "limit=1001", "offset=-1", "offset=100000001", "limit=x"):
        assert get(addr, "/api/scheduled?" + bad).status == 400, bad
    # the counter the page shows beside it: /status counts the same set
    assert get(addr, "/status").json()["counts"]["scheduled"] == 4
    assert actions(n) == []  # reads are not actions


# ---- actions -------------------------------------------------------------------------------


def test_without_a_token_every_action_is_403_and_logged(r, nexusd):
    n, addr = start(nexusd)
    jid = make_dead(r, n)
    for method, path in [("POST", "/api/dead/%s/retry" % jid), ("DELETE", "/api/dead/" + jid),
                         ("POST", "/api/retry/%s/run" % jid), ("DELETE", "/api/retry/" + jid),
                         ("POST", "/api/scheduled/%s/run" % jid),
                         ("DELETE", "/api/scheduled/" + jid),
                         ("POST", "/api/queues/default/pause"),
                         ("POST", "/api/queues/default/resume"),
                         ("POST", "/api/schedules/x/run")]:
        res = request(addr, method, path, body="{}", headers=auth())
        assert res.status == 403, (method, path)
        assert "read-only" in res.json()["error"]
    assert r.zcard("dead") == 1 and not r.exists("nexus:paused")
    lines = actions(n)
    assert len(lines) == 9
    assert all(l["status"] == "403" and l["peer"].startswith("127.0.0.1:") for l in lines)
    assert {l["action"] for l in lines} == {"dead_retry", "dead_delete", "retry_run",
                                            "retry_delete", "scheduled_run", "scheduled_delete",
                                            "queue_pause", "queue_resume", "schedule_run"}
    assert lines[0]["target"] == jid


def test_token_is_checked_and_actions_work(r, nexusd, token_file):
    n, addr = start(nexusd, token_file,
                    schedules='\nschedules = ( { name = "nightly"; cron = "0 3 * * *"; '
                              'class = "noop"; args = "[7]"; queue = "reports"; } );')
    assert get(addr, "/api/auth").json() == {"read_only": False, "token": "missing"}
    assert get(addr, "/api/auth", headers=auth("x" * 30)).json()["token"] == "wrong"
    assert get(addr, "/api/auth", headers=auth()).json()["token"] == "ok"
    jid = make_dead(r, n)

    # missing, wrong (same length, last byte), other scheme: 401, nothing moves
    path = "/api/dead/%s/retry" % jid
    assert request(addr, "POST", path).status == 401
    assert request(addr, "POST", path, headers=auth(TOKEN[:-1] + "0")).status == 401
    assert request(addr, "POST", path,
                   headers={"Authorization": "Basic " + TOKEN}).status == 401
    assert r.zcard("dead") == 1
    wrong = [l for l in actions(n) if l["status"] == "401"]
    assert len(wrong) == 3 and {l["result"] for l in wrong} == {
        "an Authorization: Bearer token is needed", "the bearer token is wrong"}
    assert TOKEN not in n.text()  # the token never reaches the log

    # pause the queue so that the retried job stays where it lands
    res = request(addr, "POST", "/api/queues/default/pause", headers=auth())
    assert res.status == 200
    assert res.json() == {"queue": "default", "paused": True, "changed": True}
    assert get(addr, "/api/paused").json() == {"paused": ["default"]}
    time.sleep(2.5)  # an idle wait already out ends
    res = request(addr, "POST", path, headers=auth())
    assert res.status == 200 and res.json() == {"moved": 1}
    assert r.zcard("dead") == 0 and r.llen("queue:default") == 1
    moved = json.loads(r.lindex("queue:default", 0))
    assert moved["jid"] == jid and "retry_count" not in moved  # 0 given back: one more attempt
    # the same retry again: the job is gone from dead
    res = request(addr, "POST", path, headers=auth())
    assert res.status == 404 and "no job" in res.json()["error"]
    # it runs after resume (and fails again, back to dead)
    assert request(addr, "POST", "/api/queues/default/resume", headers=auth()).status == 200
    wait_for(lambda: len(n.lines(event="job", jid=jid, outcome="dead")) == 2, 15,
             what="the retried job run again")

    # delete from dead; retry set: run now and delete
    res = request(addr, "DELETE", "/api/dead/" + jid, headers=auth())
    assert res.status == 200 and res.json() == {"deleted": 1}
    assert r.zcard("dead") == 0
    assert request(addr, "DELETE", "/api/dead/" + jid, headers=auth()).status == 404
    later = time.time() + 3600
    a = make_job("noop", [1], queue="later", retry_count=2, error_class="E", error_message="m")
    b = make_job("noop", [2], queue="later", retry_count=0)
    r.zadd("retry", {json.dumps(a): later, json.dumps(b): later})
    res = request(addr, "POST", "/api/retry/%s/run" % a["jid"], headers=auth())
    assert res.status == 200 and res.json() == {"moved": 1}
    pushed = json.loads(r.lindex("queue:later", 0))
    assert pushed["jid"] == a["jid"] and pushed["retry_count"] == 1 and "at" not in pushed
    assert r.sismember("queues", "later")
    res = request(addr, "DELETE", "/api/retry/" + b["jid"], headers=auth())
    assert res.status == 200 and r.zcard("retry") == 0

    # schedule run now: what nexusctl cron run does
    res = request(addr, "POST", "/api/schedules/nightly/run", headers=auth())
    assert res.status == 200
    job = json.loads(r.lindex("queue:reports", 0))
    assert job["jid"] == res.json()["jid"] and job["class"] == "noop" and job["args"] == [7]
    assert job["nexus_schedule"] == "nightly"
    assert request(addr, "POST", "/api/schedules/none/run", headers=auth()).status == 404

    # bad names and paths
    assert request(addr, "POST", "/api/queues/a%20b/pause", headers=auth()).status == 400
    assert request(addr, "POST", "/api/dead/x/explode", headers=auth()).status == 404
    assert request(addr, "GET", "/api/dead/%s/retry" % jid).status == 404
    assert request(addr, "PUT", "/api/dead", headers=auth()).status == 405

    ok = [l for l in actions(n) if l["status"] == "200"]
    assert [l["action"] for l in ok] == ["queue_pause", "dead_retry", "queue_resume",
                                         "dead_delete", "retry_run", "retry_delete",
                                         "schedule_run"]
    assert ok[1]["target"] == jid and ok[1]["result"] == "done"
    assert ok[-1]["target"] == "nightly"


def test_scheduled_jobs_run_now_or_are_deleted(r, nexusd, token_file):
    n, addr = start(nexusd, token_file)
    later = time.time() + 3600
    parked = schedule(r, "noop", [1], later, queue="later", retry_count=2)
    due = schedule(r, "noop", [2], later)
    gone = schedule(r, "noop", [3], later)
    run = "/api/scheduled/%s/run" % due["jid"]

    # missing and wrong token: 401, nothing moves
    assert request(addr, "POST", run).status == 401
    assert request(addr, "DELETE", "/api/scheduled/" + gone["jid"],
                   headers=auth(TOKEN[:-1] + "0")).status == 401
    assert r.zcard("schedule") == 3
    refused = actions(n)
    assert [(l["action"], l["status"], l["target"]) for l in refused] == [
        ("scheduled_run", "401", due["jid"]), ("scheduled_delete", "401", gone["jid"])]
    assert refused[0]["result"] == "an Authorization: Bearer token is needed"
    assert refused[1]["result"] == "the bearer token is wrong"

    # run now: pushed to its queue as it is, retry_count kept, "at" gone, enqueued now
    t0 = time.time()
    res = request(addr, "POST", "/api/scheduled/%s/run" % parked["jid"], headers=auth())
    assert res.status == 200 and res.json() == {"moved": 1}
    pushed = json.loads(r.lindex("queue:later", 0))
    assert pushed["jid"] == parked["jid"] and pushed["args"] == [1]
    assert pushed["retry_count"] == 2 and "at" not in pushed
    assert t0 - 1 <= pushed["enqueued_at"] <= time.time() + 1
    assert r.sismember("queues", "later") and r.zcard("schedule") == 2
    # the loser of a second try gets 404 (move.lua: exactly once)
    res = request(addr, "POST", "/api/scheduled/%s/run" % parked["jid"], headers=auth())
    assert res.status == 404 and "no job" in res.json()["error"]
    assert r.llen("queue:later") == 1

    # a job of a served queue runs at once, an hour early
    assert request(addr, "POST", run, headers=auth()).json() == {"moved": 1}
    n.wait_jobs([due["jid"]], timeout=15)

    res = request(addr, "DELETE", "/api/scheduled/" + gone["jid"], headers=auth())
    assert res.status == 200 and res.json() == {"deleted": 1}
    assert r.zcard("schedule") == 0
    assert request(addr, "DELETE", "/api/scheduled/" + gone["jid"], headers=auth()).status == 404
    assert request(addr, "POST", "/api/scheduled/%20/run", headers=auth()).status == 400
    assert request(addr, "POST", "/api/scheduled/x/explode", headers=auth()).status == 404
    assert request(addr, "PUT", "/api/scheduled", headers=auth()).status == 405

    lines = [(l["action"], l["status"], l["target"], l["result"]) for l in actions(n)[2:]]
    assert lines[:5] == [
        ("scheduled_run", "200", parked["jid"], "done"),
        ("scheduled_run", "404", parked["jid"], "no job with that jid in the set"),
        ("scheduled_run", "200", due["jid"], "done"),
        ("scheduled_delete", "200", gone["jid"], "done"),
        ("scheduled_delete", "404", gone["jid"], "no job with that jid in the set")]
    assert lines[5][:3] == ("scheduled_run", "400", " ")
    assert len(lines) == 6
    assert TOKEN not in n.text()


def test_token_from_the_environment_wins_and_bad_tokens_stop_the_start(nexusd, workdir):
    short = os.path.join(workdir, "short")
    with open(short, "w") as f:
        f.write("abc\n")
    os.chmod(short, 0o600)
    n = nexusd(extra=http_group(short), start=False, env={"NEXUS_HTTP_TOKEN": ""})
    n.start(wait_ready=False)
    assert n.wait_exit() == 2
    assert "http.token_file must be 16..4096 bytes (got 3)" in n.text()
    assert "%s:" % n.conf in n.text()  # file:line of the setting

    n = nexusd(extra=http_group(os.path.join(workdir, "missing")), start=False,
               env={"NEXUS_HTTP_TOKEN": ""})
    n.start(wait_ready=False)
    assert n.wait_exit() == 2
    assert "http.token_file cannot be read" in n.text() and "No such file" in n.text()

    env_token = "from-the-environment-0123456789"
    n = nexusd(extra=http_group(os.path.join(workdir, "missing")),
               env={"NEXUS_HTTP_TOKEN": env_token})
    addr = http_address(n)
    assert get(addr, "/api/auth", headers=auth(env_token)).json()["token"] == "ok"


# ---- the page in a browser -----------------------------------------------------------------


def chromium_reason():
    """Why chromium cannot run here, or None."""
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is not installed (scripts/deps.sh installs chromium)" % CHROMIUM
    try:
        res = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                              "--dump-dom", "about:blank"], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "%s cannot start: %s" % (CHROMIUM, e)
    if res.returncode != 0 or "<html" not in res.stdout:
        return "%s cannot start headless: %s" % (CHROMIUM, res.stderr.strip()[-300:])
    return None


@pytest.fixture(scope="module")
def browser_ready():
    reason = chromium_reason()
    if reason:
        pytest.skip(reason)
    node = shutil.which("node")
    assert node, "node is missing (scripts/deps.sh installs nodejs and npm)"
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        res = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, "npm ci failed:\n%s%s" % (res.stdout, res.stderr)
    return node


def run_browser(node, workdir, **env):
    e = dict(os.environ)
    e.update({k: str(v) for k, v in env.items()})
    e["CHROMIUM"] = CHROMIUM
    e.setdefault("SCREENSHOT", os.path.join(workdir, "dashboard-%s.png" % env["SCENARIO"]))
    res = subprocess.run([node, os.path.join(BROWSER_DIR, "dashboard.spec.mjs")], env=e,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0 and res.stdout.strip() == "ok " + env["SCENARIO"], \
        "browser check failed:\n%s%s" % (res.stdout, res.stderr)


def test_browser_read_only_page(r, nexusd, workdir, browser_ready):
    n, addr = start(nexusd)
    make_dead(r, n)
    push(r, "noop", [1], queue="idle")  # a queue no process serves: its size stays
    push(r, "noop", [2], queue="idle")
    run_browser(browser_ready, workdir, SCENARIO="readonly", DASHBOARD_URL="http://%s/" % addr,
                QUEUE="idle", QUEUE_SIZE=r.llen("queue:idle"))
    assert not r.exists("nexus:paused") and r.zcard("dead") == 1
    assert [l["status"] for l in actions(n)] == ["403"]


def test_browser_retries_a_dead_job_that_then_runs(r, nexusd, workdir, token_file,
                                                   browser_ready):
    n, addr = start(nexusd, token_file)
    jid = make_dead(r, n, "first attempt")
    r.sadd("nexus:paused", "default")  # the retried job waits in its queue for the check
    time.sleep(2.5)
    push(r, "noop", [1], queue="default")
    assert r.llen("queue:default") == 1
    run_browser(browser_ready, workdir, SCENARIO="retry", DASHBOARD_URL="http://%s/" % addr,
                TOKEN=TOKEN, QUEUE="default", QUEUE_SIZE=1, DEAD_JID=jid)
    assert r.zcard("dead") == 0
    assert jid in [json.loads(j)["jid"] for j in r.lrange("queue:default", 0, -1)]
    line = [l for l in actions(n) if l["action"] == "dead_retry"]
    assert len(line) == 1 and line[0]["status"] == "200" and line[0]["target"] == jid
    r.srem("nexus:paused", "default")
    wait_for(lambda: len(n.lines(event="job", jid=jid, outcome="dead")) == 2, 15,
             what="the retried job run again")


def test_browser_runs_a_scheduled_job_now_that_then_runs(r, nexusd, workdir, token_file,
                                                         browser_ready):
    n, addr = start(nexusd, token_file)
    r.sadd("nexus:paused", "default")  # the job waits in its queue for the check
    time.sleep(2.5)
    push(r, "noop", [1], queue="default")
    args = ['<img src=x onerror="document.title=1">', "</td><b>x</b>"]
    job = schedule(r, "noop", args, time.time() + 3600)
    assert r.zcard("schedule") == 1
    run_browser(browser_ready, workdir, SCENARIO="scheduled", DASHBOARD_URL="http://%s/" % addr,
                TOKEN=TOKEN, QUEUE="default", QUEUE_SIZE=1, SCHEDULED_JID=job["jid"],
                SCHEDULED_ARGS=json.dumps(args, separators=(",", ":")))
    assert r.zcard("schedule") == 0
    assert job["jid"] in [json.loads(j)["jid"] for j in r.lrange("queue:default", 0, -1)]
    line = [l for l in actions(n) if l["action"] == "scheduled_run"]
    assert len(line) == 1 and line[0]["status"] == "200" and line[0]["target"] == job["jid"]
    r.srem("nexus:paused", "default")
    n.wait_jobs([job["jid"]], timeout=15)
