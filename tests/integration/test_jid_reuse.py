"""A jid reused for another job of a `sql` or email class, or of emotion.analyze: the
exactly-once marker remembers the SHA-256 of the args that ran (emotion: of the text), so a
second job with the same jid and other args (or another class) fails as NexusJidReused,
straight to dead, instead of reporting ok without running. The same job delivered again is
still acknowledged once. Real PostgreSQL, redis-server, an SMTP server on loopback and
fake_hf.FakeHF."""
import hashlib
import json
import os

import pytest

from conftest import SOURCE_DIR, make_config, make_job, wait_for, zset_jobs

ROW_CLASS = {"name": "rows.add", "sql": "INSERT INTO demo_rows (n, note) VALUES ($1, $2)",
             "args": "int, text", "max_retries": 5}
OTHER_CLASS = {"name": "rows.other", "sql": "INSERT INTO demo_rows (n, note) VALUES ($1, $2)",
               "args": "int, text"}


@pytest.fixture
def pg(migrated_pg):
    migrated_pg.psql("CREATE TABLE demo_rows (id bigserial PRIMARY KEY, n integer NOT NULL, "
                     "note text)")
    return migrated_pg


def count(pg, sql):
    return int(pg.psql(sql).strip())


def sql_nexusd(nexusd, pg):
    config = make_config(None, (ROW_CLASS, OTHER_CLASS))
    return nexusd(config, env={"DATABASE_URL": pg.url})


def canonical_sha256(args):
    return hashlib.sha256(json.dumps(args, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def push_reused(r, job, message):
    """Pushes `job`, which reuses a jid; it must land in dead as NexusJidReused with exactly
    `message`, and never in retry."""
    r.lpush("queue:default", json.dumps(job))
    wait_for(lambda: r.zcard("dead") == 1, what="the second job in dead")
    dead = zset_jobs(r, "dead")[0][0]
    assert dead["error_class"] == "NexusJidReused"
    assert dead["error_message"] == message
    assert r.zcard("retry") == 0


def test_reused_jid_with_other_args_fails_clearly_without_retry(pg, nexusd, r):
    d = sql_nexusd(nexusd, pg)
    first = make_job("rows.add", [1, "first"])
    r.lpush("queue:default", json.dumps(first))
    d.wait_jobs([first["jid"]])
    # the marker carries the hash of the canonical args
    assert pg.psql("SELECT args_sha256 FROM nexus.jobs_done WHERE jid = '%s'"
                   % first["jid"]).strip() == canonical_sha256([1, "first"])
    second = make_job("rows.add", [2, "second"], jid=first["jid"])
    r.lpush("queue:default", json.dumps(second))
    d.wait_jobs([first["jid"]], outcome="dead")
    wait_for(lambda: r.zcard("dead") == 1, what="the second job in dead")
    job = zset_jobs(r, "dead")[0][0]
    assert job["args"] == [2, "second"]
    assert job["error_class"] == "NexusJidReused"
    msg = job["error_message"]
    assert msg.startswith("jid '%s' was already used by a job of this class with other args"
                          % first["jid"]), msg
    assert canonical_sha256([1, "first"])[:12] in msg
    assert canonical_sha256([2, "second"])[:12] in msg
    assert "give this job a new jid" in msg
    assert "second" not in msg  # the args themselves are never quoted
    assert r.zcard("retry") == 0  # no retry can help
    assert count(pg, "SELECT count(*) FROM demo_rows") == 1
    assert count(pg, "SELECT count(*) FROM demo_rows WHERE n = 2") == 0
    assert len(d.lines(event="job", jid=first["jid"], outcome="ok")) == 1


def test_same_args_again_is_ok_once_even_in_another_key_order(pg, nexusd, r):
    d = sql_nexusd(nexusd, pg)
    job = make_job("rows.add", [3, "again"])
    r.lpush("queue:default", json.dumps(job))
    d.wait_jobs([job["jid"]])
    # a redelivery, written by a client that orders keys differently
    r.lpush("queue:default", json.dumps(dict(reversed(list(job.items())))))
    wait_for(lambda: len(d.lines(event="job", jid=job["jid"], outcome="ok")) == 2,
             what="the second delivery to finish")
    assert count(pg, "SELECT count(*) FROM demo_rows WHERE n = 3") == 1
    assert r.zcard("dead") == 0 and r.zcard("retry") == 0


def test_reused_jid_of_another_class_fails_clearly(pg, nexusd, r):
    d = sql_nexusd(nexusd, pg)
    first = make_job("rows.add", [4, "x"])
    r.lpush("queue:default", json.dumps(first))
    d.wait_jobs([first["jid"]])
    other = make_job("rows.other", [4, "x"], jid=first["jid"])
    r.lpush("queue:default", json.dumps(other))
    wait_for(lambda: r.zcard("dead") == 1, what="the other class's job in dead")
    job = zset_jobs(r, "dead")[0][0]
    assert job["error_class"] == "NexusJidReused"
    assert ("jid '%s' was already used by a job of class 'rows.add'" % first["jid"]
            in job["error_message"])
    assert count(pg, "SELECT count(*) FROM demo_rows") == 1


def test_marker_from_before_the_hash_still_matches(pg, nexusd, r):
    """A marker written before migration 009 has no hash: a redelivery is ok, as before."""
    d = sql_nexusd(nexusd, pg)
    job = make_job("rows.add", [5, "old"])
    pg.psql("INSERT INTO nexus.jobs_done (jid, class) VALUES ('%s', 'rows.add')" % job["jid"])
    r.lpush("queue:default", json.dumps(job))
    d.wait_jobs([job["jid"]])
    assert count(pg, "SELECT count(*) FROM demo_rows") == 0
    assert r.zcard("dead") == 0


# ---- email classes: nexus.email_deliveries is their marker ----------------------------------

@pytest.fixture
def peer():
    from smtp_peer import SmtpPeer
    p = SmtpPeer().start()
    yield p
    p.stop()


def mail_nexusd(nexusd, pg, peer):
    smtp = 'smtp = { url = "%s"; starttls = "never"; templates = "%s"; };' % (
        peer.url, os.path.join(SOURCE_DIR, "conf", "templates"))
    return nexusd(make_config(None, (), smtp), env={"DATABASE_URL": pg.url})


def test_email_with_a_reused_jid_is_not_silently_skipped(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer)
    first = make_job("email.send", [{"to": "a@example.com", "subject": "one", "text": "x"}])
    r.lpush("queue:default", json.dumps(first))
    d.wait_jobs([first["jid"]])
    wait_for(lambda: peer.count() == 1, what="the first mail")
    second = make_job("email.send", [{"to": "b@example.com", "subject": "two", "text": "y"}],
                      jid=first["jid"])
    push_reused(r, second,
                "jid '%s' was already used by another job (class 'email.send', or other args); "
                "nothing was sent: give this job a new jid" % first["jid"])
    assert peer.count() == 1  # b@example.com got nothing, and says so in dead
    # the same job again is still the quiet redelivery it was
    r.lpush("queue:default", json.dumps(first))
    wait_for(lambda: len(d.lines(event="email_already_sent", jid=first["jid"])) == 1,
             what="the redelivery")
    assert peer.count() == 1


def test_email_does_not_take_over_the_failed_row_of_another_job(pg, nexusd, r, peer):
    d = mail_nexusd(nexusd, pg, peer)
    jid = "failedother0000000000001"
    pg.psql("INSERT INTO nexus.email_deliveries (jid, class, recipients, subject, message_id, "
            "status, args_sha256) VALUES ('%s', 'email.send', '{a@example.com}', 's', 'm@x', "
            "'failed', '%s')" % (jid, "0" * 64))
    r.lpush("queue:default", json.dumps(make_job(
        "email.send", [{"to": "b@example.com", "subject": "s", "text": "x"}], jid=jid)))
    wait_for(lambda: r.zcard("dead") == 1, what="the job in dead")
    assert zset_jobs(r, "dead")[0][0]["error_class"] == "NexusJidReused"
    assert peer.count() == 0
    assert pg.psql("SELECT status || ',' || attempts FROM nexus.email_deliveries "
                   "WHERE jid = '%s'" % jid).strip() == "failed,1"
    d.assert_alive()


# ---- emotion.analyze: nexus.emotion_results has one row per jid ------------------------------

def test_emotion_result_of_a_reused_jid_is_not_silently_dropped(pg, nexusd, r):
    from fake_hf import FakeHF
    with FakeHF() as fake:
        config = make_config(None, [{"name": "emotion.analyze", "max_retries": 5}],
                             'emotion = { url = "%s"; timeout = "2s"; };' % fake.url)
        d = nexusd(config, env={"DATABASE_URL": pg.url, "HF_API_TOKEN": fake.token})
        first = make_job("emotion.analyze", ["I am so happy today"])
        r.lpush("queue:default", json.dumps(first))
        d.wait_jobs([first["jid"]])
        # the same job again: one row, ok
        r.lpush("queue:default", json.dumps(first))
        wait_for(lambda: len(d.lines(event="job", jid=first["jid"], outcome="ok")) == 2,
                 what="the redelivery")
        # another text under the same jid: refused, clearly
        second = make_job("emotion.analyze", ["this is terrible"], jid=first["jid"])
        push_reused(r, second,
                    "jid '%s' was already used by another job (another text or source); its "
                    "result was not stored: give this job a new jid" % first["jid"])
        assert pg.psql("SELECT text_sha256 FROM nexus.emotion_results WHERE jid = '%s'"
                       % first["jid"]).strip() == hashlib.sha256(
                           b"I am so happy today").hexdigest()
