CREATE INDEX logs_service_ts_idx ON logs (service, ts, id);
DROP INDEX logs_service_level_ts_idx;
