-- 005_email_deliveries.sql: one row per email job (jid): what was sent to whom, and how the
-- SMTP server answered. The row is the email's exactly-once marker: an attempt first claims
-- it ('sending'), and a delivery of the same jid that finds it 'sent' sends nothing.
CREATE TABLE nexus.email_deliveries (
    jid         text PRIMARY KEY,
    class       text NOT NULL,
    template    text,                      -- NULL for a message given whole in the args
    recipients  text[] NOT NULL,           -- envelope recipients (to, cc and bcc)
    subject     text NOT NULL,
    message_id  text NOT NULL,             -- the Message-ID header, the same on every attempt
    status      text NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    attempts    integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    smtp_code   integer,                   -- the server's last reply code, NULL before one
    smtp_reply  text,                      -- the server's last reply line (e.g. "250 2.0.0 Ok: queued as 4F2A1")
    error       text,                      -- why the last attempt failed, NULL when it did not
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX email_deliveries_created_at ON nexus.email_deliveries (created_at);
CREATE INDEX email_deliveries_status ON nexus.email_deliveries (status) WHERE status <> 'sent';
