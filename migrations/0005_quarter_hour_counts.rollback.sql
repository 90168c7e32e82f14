DROP TABLE log_counts_15m;
