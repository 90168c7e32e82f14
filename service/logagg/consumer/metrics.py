"""Prometheus metrics of the consumer (names are a contract: docs/architecture.md).

Created in the default registry on first import (no I/O); served by ``start_http_server`` on
``LOGAGG_METRICS_PORT`` when the consumer runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

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


class OptionalGauge(Collector):
    """An unlabelled gauge that exports no sample until a value is set (``None`` removes it again).

    Why: ``prometheus_client.Gauge`` exports 0 from creation, which alerts cannot tell apart from a
    real 0 ("the verification failed") or an ancient timestamp; absence means "nothing known yet".
    """

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry | None = REGISTRY) -> None:
        self._name = name
        self._documentation = documentation
        self._value: float | None = None
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def set(self, value: float | None) -> None:
        """Set the value; None = no sample."""
        with self._lock:
            self._value = value

    def get(self) -> float | None:
        """Current value (None: no sample)."""
        with self._lock:
            return self._value

    def describe(self) -> list[Metric]:
        """The family without samples (registration checks the name without collecting)."""
        return [GaugeMetricFamily(self._name, self._documentation)]

    def collect(self) -> Iterator[Metric]:
        """One sample when a value is set, else an empty family."""
        family = GaugeMetricFamily(self._name, self._documentation)
        value = self.get()
        if value is not None:
            family.add_metric([], value)
        yield family


# Backup health, from the `backup_runs` table: no sample until such a run exists.
BACKUP_LAST_SUCCESS = OptionalGauge(
    "logagg_backup_last_success_timestamp_seconds", "Finish time of the latest successful backup (no sample: none yet)"
)
RESTORE_VERIFY_LAST_SUCCESS = OptionalGauge(
    "logagg_restore_verify_last_success_timestamp_seconds",
    "Finish time of the latest successful restore verification (no sample: none yet)",
)
RESTORE_VERIFY_OK = OptionalGauge(
    "logagg_restore_verify_ok",
    "1/0: whether the latest finished restore verification passed (no sample: none finished yet)",
)

# Partition health of every topic of the cluster, from metadata (consumer/partition_health.py).
KAFKA_UNDER_REPLICATED = Gauge(
    "logagg_kafka_under_replicated_partitions",
    "Partitions of the topic whose in-sync replica set is smaller than the replica set",
    ["topic"],
)
KAFKA_OFFLINE = Gauge("logagg_kafka_offline_partitions", "Partitions of the topic without a leader", ["topic"])
KAFKA_HEALTH_LAST_REFRESH = Gauge(
    "logagg_kafka_partition_health_last_refresh_timestamp_seconds",
    "When the partition-health gauges were last refreshed from cluster metadata (0: never)",
)
KAFKA_METADATA_ERRORS = Counter(
    "logagg_kafka_metadata_errors_total", "Failed reads of the Kafka cluster metadata for the partition health"
)

#: Values of the ``reason`` label of ``logagg_dead_letters_total``.
DEAD_LETTER_REASONS = ("decode", "insert")
for _reason in DEAD_LETTER_REASONS:
    DEAD_LETTERS.labels(reason=_reason)
