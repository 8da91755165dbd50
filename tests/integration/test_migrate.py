"""Migrations of nexusd's schema against a real PostgreSQL: `nexusd migrate`, the advisory
lock, and the start-up check."""
import concurrent.futures
import os

import pytest

from conftest import NEXUSD, make_config, run_cmd, wait_for
from pg import PostgresServer


@pytest.fixture
def pg():
    server = PostgresServer().start()
    yield server
    server.cleanup()


def migrate(url, extra_env=None):
    env = {"DATABASE_URL": url}
    env.update(extra_env or {})
    return run_cmd([NEXUSD, "migrate"], env=env, timeout=60)


def applied_versions(pg):
    out = pg.psql("SELECT version FROM nexus.schema_migrations ORDER BY version")
    return [int(x) for x in out.split()]


def test_migrate_applies_then_has_nothing_left(pg):
    first = migrate(pg.url)
    assert first.returncode == 0, first.stderr
    assert "001_nexus_schema: applied" in first.stdout
    assert "002_outbox: applied" in first.stdout
    assert "003_outbox_notify: applied" in first.stdout
    assert "004_outbox_commit_order: applied" in first.stdout
    assert "005_email_deliveries: applied" in first.stdout
    assert "5 migrations applied; nexus schema at version 5" in first.stdout
    for table in ("nexus.job_history", "nexus.jobs_done", "nexus.schema_migrations",
                  "nexus.outbox"):
        assert pg.psql("SELECT to_regclass('%s') IS NOT NULL" % table).strip() == "t", table
    again = migrate(pg.url)
    assert again.returncode == 0, again.stderr
    assert "0 migrations applied" in again.stdout
    assert applied_versions(pg) == [1, 2, 3, 4, 5]


def test_concurrent_migrations_apply_each_version_once(pg):
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda _: migrate(pg.url), range(4)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert sum("001_nexus_schema: applied" in r.stdout for r in results) == 1
    assert applied_versions(pg) == [1, 2, 3, 4, 5]


def test_migrate_without_a_database_is_a_usage_error():
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    res = run_cmd([NEXUSD, "migrate"], env={"DATABASE_URL": ""})
    assert res.returncode == 2
    assert "migrate needs database.url or DATABASE_URL" in res.stderr


def test_migrate_reports_an_unreachable_server(pg):
    url = pg.url
    pg.stop()
    res = migrate(url)
    assert res.returncode == 1
    assert "cannot connect to PostgreSQL" in res.stderr


def test_start_refuses_pending_migrations(pg, nexusd):
    d = nexusd(start=False, env={"DATABASE_URL": pg.url})
    d.start(wait_ready=False)
    assert d.wait_exit(30) == 1
    entry = d.lines(event="schema_outdated")[0]
    assert entry["pending"] == "5" and entry["first"] == "001_nexus_schema"
    assert "nexusd migrate" in entry["err"]


def test_start_applies_migrations_when_configured(pg, nexusd, r):
    d = nexusd(make_config(extra="database = { migrate = true; };"),
               env={"DATABASE_URL": pg.url})
    assert d.lines(event="migration", version="001", result="applied")
    assert d.lines(event="migration", version="002", result="applied")
    assert d.lines(event="migration", version="003", result="applied")
    assert d.lines(event="migration", version="005", result="applied")
    assert applied_versions(pg) == [1, 2, 3, 4, 5]
    r.lpush("queue:default", '{"class":"noop","args":[],"jid":"m1"}')
    d.wait_jobs(["m1"])


def test_start_with_postgres_down_still_runs_redis_jobs(pg, nexusd, r):
    url = pg.url
    pg.stop()
    d = nexusd(env={"DATABASE_URL": url})
    assert d.lines(event="schema_unchecked")
    r.lpush("queue:default", '{"class":"noop","args":[],"jid":"m2"}')
    d.wait_jobs(["m2"])
