-- 001_nexus_schema.sql: nexusd's own schema, apart from the app's tables (Prisma's).
CREATE SCHEMA IF NOT EXISTS nexus;

-- Every finished attempt of every job, written in batches. An append-only log: no primary
-- key, a BRIN index for time (cheap to keep up at 100,000 rows/s), a btree for jid lookups.
CREATE TABLE nexus.job_history (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    jid         text NOT NULL,
    class       text NOT NULL,
    queue       text NOT NULL,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    outcome     text NOT NULL
                CHECK (outcome IN ('ok', 'retry', 'dead', 'discarded', 'deferred')),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    duration_ms double precision NOT NULL,
    error_class text,
    error       text,
    process     text NOT NULL
);
CREATE INDEX job_history_jid ON nexus.job_history (jid);
CREATE INDEX job_history_finished_at ON nexus.job_history USING brin (finished_at);

-- Jobs whose effects were committed: a job delivered again after a crash finds its jid
-- here and is acknowledged without writing twice.
CREATE TABLE nexus.jobs_done (
    jid     text PRIMARY KEY,
    class   text NOT NULL,
    done_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_done_done_at ON nexus.jobs_done (done_at);
