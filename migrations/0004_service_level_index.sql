-- Replace the (service, ts, id) index with (service, level, ts, id).
-- depends: 0003_backup_runs
--
-- Why: with service and level filters, ORDER BY ts LIMIT n made the planner walk the time index
-- and filter, betting that matches are frequent; for a rare combination (a service with no errors)
-- that reads every row of the window (64 s at 10 M rows/day). The search now asks, per
-- (service, level) pair, for the first n rows of an ordered index range and merges the few
-- results, so the cost is bounded by n * pairs whatever the selectivity.

CREATE INDEX logs_service_level_ts_idx ON logs (service, level, ts, id);
DROP INDEX logs_service_ts_idx;
