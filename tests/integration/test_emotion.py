"""emotion.analyze against a real redis-server, a real PostgreSQL and fake_hf.FakeHF (a local
server answering like the Hugging Face Inference API, which cannot be reached from here):
results stored and cached, the cache used first, 503 loading and 429 deferred without
spending an attempt, timeouts, garbage answers, a missing token, PostgreSQL down."""
import email.utils
import hashlib
import json
import os
import time

import pytest

from conftest import NEXUSD, conf_value, make_config, make_job, push, run_cmd, wait_for, zset_jobs
from fake_hf import FakeHF, scores_for
from pg import PostgresServer

MODEL = "j-hartmann/emotion-english-distilroberta-base"
CLASS = "emotion.analyze"


@pytest.fixture(scope="module")
def pg():
    server = PostgresServer().start()
    res = run_cmd([NEXUSD, "migrate"], env={"DATABASE_URL": server.url}, timeout=60)
    assert res.returncode == 0, res.stderr
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def fake():
    with FakeHF() as server:
        yield server


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def emotion_nexusd(nexusd, pg, fake, emotion=None, classes=None, token=True, env=None):
    settings = {"url": fake.url, "timeout": "2s"}
    settings.update(emotion or {})
    e = {"DATABASE_URL": pg.url}
    if token:
        e["HF_API_TOKEN"] = fake.token
    e.update(env or {})
    config = make_config(None, classes or [{"name": CLASS, "max_retries": 5}],
                         "emotion = %s;" % conf_value(settings))
    return nexusd(config, env=e)


def row(pg, jid):
    out = pg.psql("SELECT text_sha256, coalesce(source, '<null>'), model, labels::text, "
                  "top_label, top_score, cached FROM nexus.emotion_results WHERE jid = '%s'"
                  % jid).strip()
    if not out:
        return None
    f = out.split("|")
    return {"sha": f[0], "source": f[1], "model": f[2], "labels": json.loads(f[3]),
            "top_label": f[4], "top_score": float(f[5]), "cached": f[6] == "t"}


def failed_job(r, jid, key="retry"):
    """The job `jid` in `key` (retry or dead), once its outcome write landed."""
    def find():
        return next((j for j, _ in zset_jobs(r, key) if j["jid"] == jid), None)
    return wait_for(find, timeout=15, what="job %s in %s" % (jid, key))


def scheduled(r, jid):
    def find():
        return next(((j, s) for j, s in zset_jobs(r, "schedule") if j["jid"] == jid), None)
    return wait_for(find, timeout=15, what="job %s in schedule" % jid)


def test_result_is_stored_and_cached_then_the_cache_answers(pg, fake, nexusd, r):
    d = emotion_nexusd(nexusd, pg, fake)
    text = "I am so happy with my new order!"
    first = push(r, CLASS, [text, "review:17"])
    d.wait_jobs([first])

    stored = row(pg, first)
    want = scores_for(text)
    assert stored["sha"] == sha(text) and stored["source"] == "review:17"
    assert stored["model"] == MODEL and stored["cached"] is False
    assert stored["top_label"] == "joy" and stored["top_score"] == pytest.approx(0.75)
    assert [e["label"] for e in stored["labels"]] == [e["label"] for e in want]
    assert [e["score"] for e in stored["labels"]] == pytest.approx([e["score"] for e in want])

    (req,) = fake.requests_for(text)
    assert req["path"] == "/models/" + MODEL
    assert req["headers"]["authorization"] == "Bearer " + fake.token
    assert req["headers"]["content-type"] == "application/json"
    assert req["json"] == {"inputs": text, "options": {"wait_for_model": False}}

    key = "emotion:" + sha(text)
    assert 3590 <= r.ttl(key) <= 3600
    cached = json.loads(r.get(key))
    assert cached["model"] == MODEL and cached["labels"][0] == {"label": "joy", "score": 0.75}

    # the same text again, in the object form: answered from Redis, no second request
    second = push(r, CLASS, [{"text": text, "source": 18}])
    d.wait_jobs([second])
    assert len(fake.requests_for(text)) == 1
    again = row(pg, second)
    assert again["cached"] is True and again["source"] == "18"
    assert again["labels"] == stored["labels"]
    assert pg.psql("SELECT count(*) FROM nexus.emotion_results WHERE text_sha256 = '%s'"
                   % sha(text)).strip() == "2"


def test_a_job_delivered_twice_stores_one_row(pg, fake, nexusd, r):
    d = emotion_nexusd(nexusd, pg, fake)
    job = make_job(CLASS, ["delivered twice"])
    r.lpush("queue:default", json.dumps(job))
    d.wait_jobs([job["jid"]])
    r.lpush("queue:default", json.dumps(job))  # a redelivery, as after a crash
    wait_for(lambda: len(d.lines(event="job", jid=job["jid"], outcome="ok")) == 2,
             what="the second delivery")
    assert pg.psql("SELECT count(*) FROM nexus.emotion_results WHERE jid = '%s'"
                   % job["jid"]).strip() == "1"


def test_model_loading_defers_by_estimated_time_without_spending_an_attempt(pg, fake, nexusd,
                                                                              r):
    d = emotion_nexusd(nexusd, pg, fake)
    text = "the model is still loading"
    fake.script(text, ("loading", 2.0))
    jid = push(r, CLASS, [text])
    line = d.wait_jobs([jid], outcome="deferred")[jid]
    assert line["in"] == "2.000s" and line["attempt"] == "1"
    assert "currently loading" in line["why"] and "estimated_time 2.0s" in line["why"]
    ok = d.wait_jobs([jid], timeout=20)[jid]
    assert ok["attempt"] == "1"  # the deferral spent no attempt
    assert not zset_jobs(r, "retry")
    reqs = fake.requests_for(text)
    assert len(reqs) == 2 and reqs[1]["at"] - reqs[0]["at"] >= 1.8
    assert row(pg, jid)["cached"] is False


def test_rate_limited_or_unavailable_honours_retry_after_seconds_and_dates(pg, fake, nexusd, r):
    d = emotion_nexusd(nexusd, pg, fake)
    texts = {"rate limited, seconds": "2",
             "rate limited, a date": email.utils.formatdate(time.time() + 3, usegmt=True)}
    for text, value in texts.items():
        fake.script(text, ("rate_limited", value))
    fake.script("unavailable, retry after", ("unavailable", "2"))
    texts["unavailable, retry after"] = "2"
    jids = {push(r, CLASS, [text]): text for text in texts}
    d.wait_jobs(list(jids), timeout=30)
    for jid, text in jids.items():
        reqs = fake.requests_for(text)
        assert len(reqs) == 2, text
        assert reqs[1]["at"] - reqs[0]["at"] >= 1.5, text
        assert d.lines(event="job", jid=jid, outcome="deferred")
    # without Retry-After: a minute, and the attempt is still not spent
    fake.script("rate limited, no header", ("rate_limited", None))
    jid = push(r, CLASS, ["rate limited, no header"])
    job, score = scheduled(r, jid)
    assert "retry_count" not in job
    assert time.time() + 50 < score < time.time() + 61
    # a wait longer than emotion.max_defer (1h) is cut to it
    fake.script("loading for a day", ("loading", 86400.0))
    jid = push(r, CLASS, ["loading for a day"])
    job, score = scheduled(r, jid)
    assert "retry_count" not in job
    assert time.time() + 3590 < score < time.time() + 3601


def test_slow_endpoint_times_out_and_the_retry_succeeds(pg, fake, nexusd, r):
    d = emotion_nexusd(nexusd, pg, fake, emotion={"timeout": "1s"})
    text = "a very slow answer"
    fake.script(text, ("slow", 3))
    jid = push(r, CLASS, [text])
    job = failed_job(r, jid)
    assert job["error_class"] == "NexusEmotionTimeout"
    assert job["error_message"].startswith("no complete answer from %s/%s within emotion.timeout"
                                           % (fake.url, MODEL))
    assert job["retry_count"] == 0
    r.zadd("retry", {r.zrange("retry", 0, 0)[0]: 0})  # due now
    ok = wait_for(lambda: d.lines(event="job", jid=jid, outcome="ok"), timeout=20,
                  what="the retried job to succeed")
    assert ok[0]["attempt"] == "2"  # a timeout spends an attempt, unlike a deferral
    assert row(pg, jid)["top_label"]


def test_job_timeout_cancels_the_request(pg, fake, nexusd, r):
    d = emotion_nexusd(nexusd, pg, fake, emotion={"timeout": "10s"},
                       classes=[{"name": CLASS, "timeout": "1s"}])
    text = "cancelled while the request runs"
    fake.script(text, ("slow", 4))
    jid = push(r, CLASS, [text])
    job = failed_job(r, jid)
    assert job["error_class"] == "NexusTimeout"
    assert row(pg, jid) is None
    d.assert_alive()


def test_garbage_answers_fail_with_clear_errors(pg, fake, nexusd, r):
    d = emotion_nexusd(nexusd, pg, fake)
    cases = {
        "invalid json": (("invalid_json",), "NexusEmotionBadAnswer",
                         "garbage answer from %s (HTTP 200): invalid JSON: " % d_url(fake)),
        "wrong shape": (("wrong_shape",), "NexusEmotionBadAnswer",
                        "garbage answer from %s (HTTP 200): entry 0: \"score\" must be a number "
                        "(got a string); answer: [{\"label\": \"joy\", \"score\": \"high\"}]"
                        % d_url(fake)),
        "huge body": (("huge", 50), "NexusEmotionBadAnswer",
                      "answer from %s larger than emotion.max_response (1048576 bytes; HTTP 200)"
                      % d_url(fake)),
        "server error": (("status", 500, {"error": "Internal Server Error"}),
                         "NexusEmotionHTTPError",
                         "HTTP 500 from %s: Internal Server Error" % d_url(fake)),
        "not json error": (("status", 502, "<html>bad gateway</html>"), "NexusEmotionHTTPError",
                           "HTTP 502 from %s: <html>bad gateway</html>" % d_url(fake)),
        "unavailable": (("unavailable",), "NexusEmotionUnavailable",
                        "HTTP 503 from %s: Service Unavailable" % d_url(fake)),
        # libcurl sends again when a reused connection dies unanswered, up to 5 times, and
        # each retry may land on another reused connection: every send must meet a close
        "connection closed": (("close",), "NexusEmotionUnreachable", d_url(fake) + ": "),
    }
    jids = {}
    for text, (step, _, _) in cases.items():
        fake.script(text, *[step] * (6 if text == "connection closed" else 2))
        jids[text] = push(r, CLASS, [text])
    for text, (_, error_class, message) in cases.items():
        job = failed_job(r, jids[text])
        assert job["error_class"] == error_class, (text, job)
        assert job["error_message"].startswith(message), (text, job["error_message"])
        assert job["retry_count"] == 0
        assert row(pg, jids[text]) is None
    assert fake.huge_sent < 50 << 20  # nexusd stopped reading at max_response
    assert "invalid JSON" in failed_job(r, jids["invalid json"])["error_message"]
    assert "<html><body>502 Bad Gateway</body></html>??" in \
        failed_job(r, jids["invalid json"])["error_message"]
    d.assert_alive()


def d_url(fake):
    return "%s/%s" % (fake.url, MODEL)


def test_token_missing_refused_or_from_a_file(pg, fake, nexusd, r, workdir):
    d = emotion_nexusd(nexusd, pg, fake, token=False)
    jid = push(r, CLASS, ["nobody gave me a token"])
    job = failed_job(r, jid)
    assert job["error_class"] == "NexusEmotionNoToken"
    assert job["error_message"] == \
        "no Hugging Face token: set HF_API_TOKEN or emotion.token_file"
    assert not fake.requests_for("nobody gave me a token")
    d.cleanup()

    r.delete("retry")
    d = emotion_nexusd(nexusd, pg, fake, env={"HF_API_TOKEN": "hf_wrong"})
    jid = push(r, CLASS, ["the wrong token"])
    job = failed_job(r, jid)
    assert job["error_class"] == "NexusEmotionUnauthorized"
    assert job["error_message"] == ("HTTP 401 from %s: the token was refused: Invalid credentials"
                                    " in Authorization header" % d_url(fake))
    assert "hf_wrong" not in d.text()
    d.cleanup()

    path = os.path.join(workdir, "hf_token")
    with open(path, "w") as f:
        f.write(fake.token + "\n")
    os.chmod(path, 0o600)  # a secret file open to others is refused
    d = emotion_nexusd(nexusd, pg, fake, token=False, emotion={"token_file": path})
    jid = push(r, CLASS, ["a token from a file"])
    d.wait_jobs([jid])
    assert fake.token not in d.text()


def test_bad_args_fail_with_an_argument_error(pg, fake, nexusd, r):
    d = emotion_nexusd(nexusd, pg, fake, emotion={"max_text": 20})
    jid = push(r, CLASS, ["x" * 21])
    job = failed_job(r, jid)
    assert job["error_class"] == "ArgumentError"
    assert job["error_message"] == "args[0] must be a string of 1..20 bytes (got 21 bytes)"
    d.assert_alive()


def test_unreadable_cache_is_skipped_and_rewritten(pg, fake, nexusd, r):
    d = emotion_nexusd(nexusd, pg, fake)
    texts = ["cache holds a list", "cache holds garbage", "cache of another model"]
    r.rpush("emotion:" + sha(texts[0]), "x")  # GET fails: WRONGTYPE
    r.set("emotion:" + sha(texts[1]), "not json")
    r.set("emotion:" + sha(texts[2]), json.dumps(
        {"model": "someone/else", "labels": [{"label": "joy", "score": 1}]}))
    jids = [push(r, CLASS, [t]) for t in texts]
    d.wait_jobs(jids)
    for jid, text in zip(jids, texts):
        assert len(fake.requests_for(text)) == 1, text
        assert row(pg, jid)["cached"] is False
        assert json.loads(r.get("emotion:" + sha(text)))["model"] == MODEL
    warned = d.lines(event="emotion_cache", op="read")
    assert any("WRONGTYPE" in w["err"] for w in warned)
    assert any(w["err"].startswith("invalid JSON") for w in warned)


def test_cache_ttl_setting_and_no_cache(pg, fake, nexusd, r):
    d = emotion_nexusd(nexusd, pg, fake, emotion={"cache_ttl": "10m", "cache_prefix": "app:emo:"})
    jid = push(r, CLASS, ["ttl of ten minutes"])
    d.wait_jobs([jid])
    assert 590 <= r.ttl("app:emo:" + sha("ttl of ten minutes")) <= 600
    d.cleanup()
    d = emotion_nexusd(nexusd, pg, fake, emotion={"cache_ttl": 0})
    jids = [push(r, CLASS, ["never cached"]) for _ in range(2)]
    d.wait_jobs(jids)
    assert len(fake.requests_for("never cached")) == 2
    assert not r.exists("emotion:" + sha("never cached"))


def test_postgres_down_is_retried_and_nothing_is_lost(pg, fake, nexusd, r):
    d = emotion_nexusd(nexusd, pg, fake)
    text = "written while PostgreSQL is down"
    d.wait_log(r"event=db_up ")  # the pool is up (else its first db_up comes after the restart)
    pg.stop()
    try:
        jid = push(r, CLASS, [text, "review:99"])
        job = failed_job(r, jid)
        assert job["error_class"] == "NexusDatabaseDown"
        # the answer was cached: the retry will not ask the endpoint again
        assert r.exists("emotion:" + sha(text))
    finally:
        pg.start()
    wait_for(lambda: len(d.lines(event="db_up")) >= 2, timeout=30, what="the pool to reconnect")
    r.zadd("retry", {r.zrange("retry", 0, 0)[0]: 0})  # due now
    wait_for(lambda: d.lines(event="job", jid=jid, outcome="ok"), timeout=20,
             what="the retried job to succeed")
    stored = row(pg, jid)
    assert stored["cached"] is True and stored["source"] == "review:99"
    assert len(fake.requests_for(text)) == 1
