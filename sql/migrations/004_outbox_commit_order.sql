-- 004_outbox_commit_order.sql: the relay takes outbox rows in the order their transactions
-- committed, per queue. Ids follow the order of the INSERTs, and a transaction that
-- inserted first may commit last. So each row gets a number at commit time: a deferred
-- trigger runs when its transaction commits, takes an advisory lock of the row's queue (held
-- until the commit is visible, so the next committer of that queue numbers after it), and
-- draws from a sequence. The relay reads in that order (sql/outbox.c). Committers of one
-- queue pass the lock one after another during their commit only.
CREATE SEQUENCE nexus.outbox_commit_seq;
ALTER TABLE nexus.outbox ADD COLUMN commit_seq bigint;
-- rows already committed keep their id order
UPDATE nexus.outbox SET commit_seq = id;
SELECT setval('nexus.outbox_commit_seq', greatest((SELECT max(id) FROM nexus.outbox), 1));
CREATE INDEX outbox_by_commit_seq ON nexus.outbox (commit_seq);

CREATE FUNCTION nexus.outbox_commit_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('nexus.outbox:' || NEW.queue));
    UPDATE nexus.outbox SET commit_seq = nextval('nexus.outbox_commit_seq') WHERE id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER outbox_commit_order AFTER INSERT ON nexus.outbox
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION nexus.outbox_commit_order();
