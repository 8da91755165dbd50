-- 006_emotion.sql: results of emotion.analyze jobs (docs/emotion.md), one row per job.
-- The text itself is not kept: text_sha256 names it (as the Redis cache key does) and
-- `source` is the app's own reference to where it came from (e.g. "review:42").
CREATE TABLE nexus.emotion_results (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jid         text NOT NULL UNIQUE, -- a job delivered again after a crash writes no second row
    text_sha256 text NOT NULL CHECK (text_sha256 ~ '^[0-9a-f]{64}$'),
    source      text,
    model       text NOT NULL,
    labels      jsonb NOT NULL CHECK (jsonb_typeof(labels) = 'array'), -- [{"label","score"}],
                                                                        -- highest score first
    top_label   text NOT NULL,
    top_score   double precision NOT NULL CHECK (top_score >= 0 AND top_score <= 1),
    cached      boolean NOT NULL, -- taken from the Redis cache, not from the endpoint
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX emotion_results_text_sha256 ON nexus.emotion_results (text_sha256);
CREATE INDEX emotion_results_source ON nexus.emotion_results (source) WHERE source IS NOT NULL;
CREATE INDEX emotion_results_created_at ON nexus.emotion_results USING brin (created_at);
