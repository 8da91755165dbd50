-- 010_enqueue_unique.sql: nexus.enqueue() makes unique jobs too: unique_for (seconds) and
-- unique_key go into the job (docs/PROTOCOL.md, "Unique jobs"), and the relay's push takes
-- the job's lock (outbox.lua): a duplicate is not pushed. Calls with five arguments or fewer
-- are unchanged.
DROP FUNCTION nexus.enqueue(text, jsonb, text, timestamptz, jsonb);
CREATE FUNCTION nexus.enqueue(class text, args jsonb DEFAULT '[]'::jsonb,
                              queue text DEFAULT 'default', run_at timestamptz DEFAULT NULL,
                              retry jsonb DEFAULT 'true'::jsonb,
                              unique_for double precision DEFAULT NULL,
                              unique_key text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    jid text := substr(replace(gen_random_uuid()::text, '-', ''), 1, 24);
    now_s double precision := extract(epoch FROM clock_timestamp());
    job jsonb;
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
    IF unique_for IS NOT NULL AND NOT (unique_for > 0 AND unique_for <= 3153600000) THEN
        RAISE EXCEPTION 'nexus.enqueue: unique_for must be seconds above 0, at most 3153600000 (got %)',
            unique_for;
    END IF;
    IF unique_key IS NOT NULL AND unique_for IS NULL THEN
        RAISE EXCEPTION 'nexus.enqueue: unique_key needs unique_for';
    END IF;
    IF unique_key IS NOT NULL AND octet_length(unique_key) NOT BETWEEN 1 AND 512 THEN
        RAISE EXCEPTION 'nexus.enqueue: unique_key must be 1..512 bytes (got %)',
            octet_length(unique_key);
    END IF;
    job := jsonb_build_object('class', class, 'args', args, 'jid', jid, 'queue', queue,
                              'retry', retry, 'created_at', now_s);
    IF unique_for IS NOT NULL THEN
        job := job || jsonb_build_object('unique_for', unique_for);
    END IF;
    IF unique_key IS NOT NULL THEN
        job := job || jsonb_build_object('unique_key', unique_key);
    END IF;
    INSERT INTO nexus.outbox (queue, job, run_at)
    VALUES (queue, job::text, extract(epoch FROM run_at));
    RETURN jid;
END;
$$;
