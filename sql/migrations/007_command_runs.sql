-- 007_command_runs.sql: one row per step of a `command` class job (docs/commands.md):
-- how it ended, how long it took, the tail of its output and what a parser read from it.
CREATE TABLE nexus.command_runs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jid            text NOT NULL,
    class          text NOT NULL,
    queue          text NOT NULL,
    attempt        integer NOT NULL CHECK (attempt >= 1),
    step           integer NOT NULL CHECK (step >= 1),
    nsteps         integer NOT NULL CHECK (nsteps >= step),
    argv           jsonb NOT NULL,         -- the argv run, as a JSON array of strings
    workdir        text,                   -- NULL: nexusd's working directory
    status         text NOT NULL
                   CHECK (status IN ('ok', 'failed', 'timeout', 'cancelled', 'spawn_error')),
    exit_code      integer,                -- NULL when killed by a signal or never started
    signal         text,                   -- e.g. 'TERM', 'KILL' when killed by one
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    duration_ms    double precision NOT NULL,
    output         text NOT NULL,          -- stdout and stderr, the last output_limit bytes
    output_dropped bigint NOT NULL DEFAULT 0 CHECK (output_dropped >= 0),
    result         jsonb,                  -- what `parse` read, e.g. npm audit's counts
    error          text,                   -- the job's error message when status is not ok
    host           text NOT NULL,
    pid            integer                 -- the step's process (group leader)
);
CREATE INDEX command_runs_jid ON nexus.command_runs (jid);
CREATE INDEX command_runs_class_started ON nexus.command_runs (class, started_at DESC);
