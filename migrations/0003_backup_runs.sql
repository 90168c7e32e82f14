-- Backup and restore-verification runs, written by `logagg backup`; the consumer exports gauges from it.
-- depends: 0002_dead_letters

CREATE TABLE backup_runs (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('backup', 'verify')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    ok           boolean,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX backup_runs_kind_finished_idx ON backup_runs (kind, finished_at DESC);
