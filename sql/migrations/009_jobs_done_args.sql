-- 009_jobs_done_args.sql: the exactly-once marker of a sql class job remembers what ran: the
-- SHA-256 of the job's args (canonical JSON: keys sorted, compact). A later job with the same
-- jid and other args (or another class) is a reused jid, not a second delivery: it fails as
-- NexusJidReused instead of being acknowledged without running (sql/once.c). Markers written
-- before this migration have no hash (NULL) and match any args, as before.
ALTER TABLE nexus.jobs_done ADD COLUMN args_sha256 text;
