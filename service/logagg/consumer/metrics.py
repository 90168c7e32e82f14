"""Prometheus metrics of the consumer (names are a contract: docs/architecture.md).

Created in the default registry on first import (no I/O); served by ``start_http_server`` on
``LOGAGG_METRICS_PORT`` when the consumer runs.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMER_LAG = Gauge("logagg_consumer_lag", "Messages behind the log end, per partition", ["partition"])
CONSUMER_RECORDS = Counter(
    "logagg_consumer_records_total", "Records decoded and written to PostgreSQL (duplicates included)"
)
CONSUMER_BATCHES = Counter("logagg_consumer_batches_total", "Poll batches committed (DB, then offsets)")
DB_WRITE_DURATION = Histogram(
    "logagg_db_write_duration_seconds",
    "Time to write one poll batch to PostgreSQL (COPY, dedup, counts, commit)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DEAD_LETTERS = Counter("logagg_dead_letters_total", "Kafka messages sent to dead_letters", ["reason"])
BACKUP_LAST_SUCCESS = Gauge(
    "logagg_backup_last_success_timestamp_seconds", "Finish time of the latest successful backup (0: none)"
)
RESTORE_VERIFY_LAST_SUCCESS = Gauge(
    "logagg_restore_verify_last_success_timestamp_seconds",
    "Finish time of the latest successful restore verification (0: none)",
)
RESTORE_VERIFY_OK = Gauge("logagg_restore_verify_ok", "1 when the latest finished restore verification passed")

#: Values of the ``reason`` label of ``logagg_dead_letters_total``.
DEAD_LETTER_REASONS = ("decode", "insert")
for _reason in DEAD_LETTER_REASONS:
    DEAD_LETTERS.labels(reason=_reason)
