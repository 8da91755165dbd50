-- 003_outbox_notify.sql: wakes the relay when jobs are committed. Each statement that inserts
-- into nexus.outbox (nexus.enqueue() or a direct INSERT) sends NOTIFY nexus_outbox, which
-- PostgreSQL delivers only when the transaction commits (and once per transaction, the
-- notifications being identical); nexusd LISTENs and relays at once (sql/outbox.c). Its poll
-- (database.outbox_interval) stays as the safety net.
CREATE FUNCTION nexus.outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('nexus_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON nexus.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION nexus.outbox_notify();
