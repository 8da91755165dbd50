-- 012_enqueue_trace.sql: nexus.enqueue() carries the W3C trace context of the app's request:
-- traceparent (version 00, as nexusd reads it) and tracestate go into the job
-- (docs/PROTOCOL.md, "Trace context"). Calls with seven arguments or fewer are unchanged.
DROP FUNCTION nexus.enqueue(text, jsonb, text, timestamptz, jsonb, double precision, text);
CREATE FUNCTION nexus.enqueue(class text, args jsonb DEFAULT '[]'::jsonb,
                              queue text DEFAULT 'default', run_at timestamptz DEFAULT NULL,
                              retry jsonb DEFAULT 'true'::jsonb,
                              unique_for double precision DEFAULT NULL,
                              unique_key text DEFAULT NULL,
                              traceparent text DEFAULT NULL,
                              tracestate text DEFAULT NULL)
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
    IF traceparent IS NOT NULL AND (traceparent !~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'
                                    OR substr(traceparent, 4, 32) = repeat('0', 32)
                                    OR substr(traceparent, 37, 16) = repeat('0', 16)) THEN
        RAISE EXCEPTION 'nexus.enqueue: traceparent must be 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>, lowercase, neither id all zeros (got %)',
            left(traceparent, 64);
    END IF;
    IF tracestate IS NOT NULL AND traceparent IS NULL THEN
        RAISE EXCEPTION 'nexus.enqueue: tracestate needs traceparent';
    END IF;
    IF tracestate IS NOT NULL AND (tracestate !~ '^[\x20-\x7e]+$'
                                   OR octet_length(tracestate) > 512) THEN
        RAISE EXCEPTION 'nexus.enqueue: tracestate must be 1..512 printable ASCII characters';
    END IF;
    job := jsonb_build_object('class', class, 'args', args, 'jid', jid, 'queue', queue,
                              'retry', retry, 'created_at', now_s);
    IF unique_for IS NOT NULL THEN
        job := job || jsonb_build_object('unique_for', unique_for);
    END IF;
    IF unique_key IS NOT NULL THEN
        job := job || jsonb_build_object('unique_key', unique_key);
    END IF;
    IF traceparent IS NOT NULL THEN
        job := job || jsonb_build_object('traceparent', traceparent);
    END IF;
    IF tracestate IS NOT NULL THEN
        job := job || jsonb_build_object('tracestate', tracestate);
    END IF;
    INSERT INTO nexus.outbox (queue, job, run_at)
    VALUES (queue, job::text, extract(epoch FROM run_at));
    RETURN jid;
END;
$$;
