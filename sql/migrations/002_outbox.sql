-- 002_outbox.sql: transactional enqueue. The app calls nexus.enqueue() inside its own
-- transaction; the job exists for nexusd only once that transaction commits, and nexusd
-- moves it to Redis exactly once (sql/outbox.c).
CREATE TABLE nexus.outbox (
    id         bigserial PRIMARY KEY,
    queue      text NOT NULL,
    job        text NOT NULL,            -- the job's JSON, as it will sit in Redis
    run_at     double precision,         -- epoch seconds; NULL: now
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Enqueues a job in Sidekiq's format; returns its jid. Example, in the app's transaction:
--   SELECT nexus.enqueue('email.order_receipt', jsonb_build_array(order_id));
--   SELECT nexus.enqueue('tests.nightly', '[]', 'low', now() + interval '1 hour');
CREATE FUNCTION nexus.enqueue(class text, args jsonb DEFAULT '[]'::jsonb,
                              queue text DEFAULT 'default', run_at timestamptz DEFAULT NULL,
                              retry jsonb DEFAULT 'true'::jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    jid text := substr(replace(gen_random_uuid()::text, '-', ''), 1, 24);
    now_s double precision := extract(epoch FROM clock_timestamp());
BEGIN
    IF class IS NULL OR class = '' THEN
        RAISE EXCEPTION 'nexus.enqueue: class must not be empty';
    END IF;
    IF jsonb_typeof(args) <> 'array' THEN
        RAISE EXCEPTION 'nexus.enqueue: args must be a JSON array (got %)', jsonb_typeof(args);
    END IF;
    IF queue IS NULL OR queue !~ '^[^[:space:][:cntrl:]]{1,128}$' THEN
        RAISE EXCEPTION 'nexus.enqueue: queue must be 1..128 characters without spaces';
    END IF;
    INSERT INTO nexus.outbox (queue, job, run_at)
    VALUES (queue,
            jsonb_build_object('class', class, 'args', args, 'jid', jid, 'queue', queue,
                               'retry', retry, 'created_at', now_s)::text,
            extract(epoch FROM run_at));
    RETURN jid;
END;
$$;
