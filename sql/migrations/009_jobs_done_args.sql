-- 009_jobs_done_args.sql: the exactly-once markers remember what ran: the SHA-256 of the
-- job's args (canonical JSON: keys sorted, compact). A later job with the same jid and other
-- args (or another class) is a reused jid, not a second delivery: it fails as NexusJidReused
-- instead of being acknowledged without running. nexus.jobs_done is the marker of `sql`
-- classes (sql/once.c), nexus.email_deliveries the one of email classes (jobs/email.c).
-- Markers written before this migration have no hash (NULL) and match any args, as before.
ALTER TABLE nexus.jobs_done ADD COLUMN args_sha256 text;
ALTER TABLE nexus.email_deliveries ADD COLUMN args_sha256 text;
