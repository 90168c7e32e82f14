-- Log records: a table range-partitioned by day (UTC) on ts, with the indexes the query API needs.
-- depends:

-- id uses the "C" collation: byte order is deterministic and cheap, and ids are opaque keys.
-- The primary key (ts, id) makes a Kafka redelivery of the same record a no-op (ON CONFLICT DO
-- NOTHING) and doubles as the time index for keyset pagination in both directions.
CREATE TABLE logs (
    ts          timestamptz NOT NULL,
    id          text COLLATE "C" NOT NULL,
    service     text NOT NULL,
    level       text NOT NULL CHECK (level IN ('trace', 'debug', 'info', 'warn', 'error', 'fatal')),
    message     text NOT NULL,
    attributes  jsonb NOT NULL DEFAULT '{}'::jsonb,
    trace_id    text,
    span_id     text,
    PRIMARY KEY (ts, id)
) PARTITION BY RANGE (ts);

CREATE INDEX logs_service_ts_idx ON logs (service, ts, id);
-- 'simple' config: lower-cases without stemming or stop words, so identifiers, error codes and
-- non-English text match exactly the words the user typed (english stemming would both conflate
-- and silently drop words like "not" or "off" that matter in logs).
CREATE INDEX logs_message_fts_idx ON logs USING gin (to_tsvector('simple', message));
CREATE INDEX logs_attributes_idx ON logs USING gin (attributes jsonb_path_ops);
CREATE INDEX logs_trace_id_idx ON logs (trace_id) WHERE trace_id IS NOT NULL;

-- Client-supplied idempotency keys. A client resend may carry a different server-assigned ts
-- (when the client omitted the timestamp), so (ts, id) alone cannot catch it: the consumer inserts
-- the key here first (ON CONFLICT DO NOTHING) and only stores records whose key was new.
-- ts is the stored record's ts, so retention prunes the key together with the row's partition.
CREATE TABLE client_ids (
    id  text COLLATE "C" PRIMARY KEY,
    ts  timestamptz NOT NULL
);
CREATE INDEX client_ids_ts_idx ON client_ids (ts);

-- Per-minute counts maintained in the insert transaction; histograms and the services list
-- with only time/service/level filters read this instead of scanning logs.
CREATE TABLE log_counts (
    minute   timestamptz NOT NULL,
    service  text NOT NULL,
    level    text NOT NULL,
    count    bigint NOT NULL,
    PRIMARY KEY (minute, service, level)
);

-- Create the daily partitions logs_pYYYYMMDD covering [day_from, day_to] (UTC days), if missing.
-- Cheap when they exist (a catalog lookup per day); creation is serialised by an advisory lock
-- so concurrent consumers do not race on CREATE TABLE. Returns the number of partitions created.
CREATE FUNCTION logagg_ensure_partitions(day_from date, day_to date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    part text;
    created integer := 0;
BEGIN
    IF day_to - day_from > 3660 THEN
        RAISE EXCEPTION 'refusing to create % partitions at once', day_to - day_from + 1;
    END IF;
    d := day_from;
    WHILE d <= day_to LOOP
        part := 'logs_p' || to_char(d, 'YYYYMMDD');
        IF to_regclass(quote_ident(part)) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('logagg_ensure_partitions'));
            IF to_regclass(quote_ident(part)) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF logs FOR VALUES FROM (%L) TO (%L)',
                    part,
                    (d::timestamp AT TIME ZONE 'UTC'),
                    ((d + 1)::timestamp AT TIME ZONE 'UTC'));
                created := created + 1;
            END IF;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END;
$$;
