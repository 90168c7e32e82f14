-- Kafka messages the consumer could not decode or insert: raw payload and the reason, for redrive.
-- depends: 0001_logs

CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    topic        text NOT NULL,
    "partition"  integer NOT NULL,
    "offset"     bigint NOT NULL,
    reason       text NOT NULL,
    payload      bytea,
    -- a redelivered poison message must not be dead-lettered twice
    UNIQUE (topic, "partition", "offset")
);
CREATE INDEX dead_letters_received_at_idx ON dead_letters (received_at);
