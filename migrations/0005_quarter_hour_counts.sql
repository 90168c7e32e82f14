-- Per-quarter-hour counts next to the per-minute ones.
-- depends: 0004_service_level_index
--
-- Why: a 24 h histogram across all services summed ~205 000 log_counts rows at 10 M records
-- (~90 ms), and log_counts grows with services x levels x minutes, not with traffic. Histograms
-- whose interval is a multiple of 15 minutes (the automatic interval from 24 h up) and the
-- services list read whole quarter hours here, 15 times fewer rows; log_counts fills in the
-- partial quarter hours at the range edges and logs the partial minutes.
-- The writer maintains both tables in the insert transaction, so they always agree with logs.
-- Consumers of the previous release that still run after this backfill (until their pods are
-- replaced) add to log_counts only; `logagg retention` (hourly) reconciles log_counts_15m with
-- log_counts (logagg.store.maintenance.reconcile_quarter_counts), so that gap closes by itself.

CREATE TABLE log_counts_15m (
    bucket   timestamptz NOT NULL,  -- start of the quarter hour (UTC, epoch-aligned)
    service  text NOT NULL,
    level    text NOT NULL,
    count    bigint NOT NULL,
    PRIMARY KEY (bucket, service, level)
);

INSERT INTO log_counts_15m (bucket, service, level, count)
SELECT date_bin('15 minutes', minute, TIMESTAMPTZ '1970-01-01 00:00:00+00'), service, level, sum(count)
  FROM log_counts
 GROUP BY 1, 2, 3;
