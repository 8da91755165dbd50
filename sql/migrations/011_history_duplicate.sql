-- 011_history_duplicate.sql: nexus.job_history records a unique job that was not run because
-- another job held its lock (outcome 'duplicate', docs/PROTOCOL.md "Unique jobs"). The new
-- check allows every value the old one did: added NOT VALID and validated apart, so that the
-- scan of the rows already there does not hold the writers' lock.
ALTER TABLE nexus.job_history DROP CONSTRAINT job_history_outcome_check;
ALTER TABLE nexus.job_history ADD CONSTRAINT job_history_outcome_check
    CHECK (outcome IN ('ok', 'retry', 'dead', 'discarded', 'deferred', 'duplicate')) NOT VALID;
ALTER TABLE nexus.job_history VALIDATE CONSTRAINT job_history_outcome_check;
