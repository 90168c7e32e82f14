DROP FUNCTION logagg_ensure_partitions(date, date);
DROP TABLE log_counts;
DROP TABLE client_ids;
DROP TABLE logs;
