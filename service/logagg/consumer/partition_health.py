"""Partition health of the Kafka cluster's topics, from cluster metadata (replaces kafka_exporter).

``count_partition_health`` is pure (unit-testable on metadata dicts without Kafka);
``PartitionHealthRefresher`` asks the cluster through kafka-python's admin client and sets the
gauges. Every consumer replica exports the same values, so alerts take ``max by (topic)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient  # type: ignore[import-untyped]
from kafka.errors import KafkaError  # type: ignore[import-untyped]

from logagg.consumer import metrics

log = logging.getLogger(__name__)

#: Kafka's "no leader" broker id in metadata responses.
NO_LEADER = -1
DEFAULT_REFRESH_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class TopicHealth:
    """Partition counts of one topic."""

    partitions: int
    under_replicated: int
    """Partitions whose in-sync replica set is smaller than the replica set."""
    offline: int
    """Partitions without a leader (neither readable nor writable)."""


def count_partition_health(topics: Iterable[Mapping[str, Any]]) -> dict[str, TopicHealth]:
    """Per topic, count under-replicated and offline partitions in ``describe_topics()`` output.

    kafka-python 3 describes a topic as ``{"name", "partitions": [{"leader_id", "replica_nodes",
    "isr_nodes", ...}]}`` (the Metadata response's field names); 2.x used ``topic``, ``leader``,
    ``replicas``, ``isr``. Both are read. A missing or negative leader means offline.
    """
    health: dict[str, TopicHealth] = {}
    for topic in topics:
        partitions = list(topic.get("partitions") or [])
        under = sum(1 for p in partitions if len(_field(p, "isr_nodes", "isr")) < len(_field(p, "replica_nodes", "replicas")))
        offline = sum(1 for p in partitions if _leader(p) < 0)
        health[str(_field(topic, "name", "topic"))] = TopicHealth(len(partitions), under, offline)
    return health


def _field(item: Mapping[str, Any], name: str, legacy: str) -> Any:
    """``item[name]``, else the kafka-python 2.x name, else an empty list."""
    for key in (name, legacy):
        value = item.get(key)
        if value is not None:
            return value
    return []


def _leader(partition: Mapping[str, Any]) -> int:
    """Leader broker id of a partition's metadata, NO_LEADER when absent."""
    leader = _field(partition, "leader_id", "leader")
    return NO_LEADER if leader == [] else int(leader)


class PartitionHealthRefresher:
    """Refreshes the partition-health gauges at most every ``interval`` seconds; never raises."""

    def __init__(
        self,
        admin_factory: Callable[[], KafkaAdminClient],
        interval: float = DEFAULT_REFRESH_SECONDS,
    ) -> None:
        self._admin_factory = admin_factory
        self._admin: KafkaAdminClient | None = None
        self._interval = interval
        self._next = 0.0
        self._topics: set[str] = set()

    def maybe_refresh(self) -> None:
        """Refresh if the interval has passed (called from the poll loop)."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._interval
        self.refresh()

    def refresh(self) -> bool:
        """Describe every topic and set the gauges; on failure log, count, and keep the old values."""
        try:
            if self._admin is None:
                self._admin = self._admin_factory()
            described = self._admin.describe_topics()
        except (KafkaError, OSError) as exc:  # a metadata failure must not stop consuming
            metrics.KAFKA_METADATA_ERRORS.inc()
            log.warning("cannot read Kafka cluster metadata", extra={"error": repr(exc)})
            self.close()  # reconnect next time: the broker set may have changed
            return False
        health = count_partition_health(described)
        for topic, h in health.items():
            metrics.KAFKA_UNDER_REPLICATED.labels(topic=topic).set(h.under_replicated)
            metrics.KAFKA_OFFLINE.labels(topic=topic).set(h.offline)
        for gone in self._topics - health.keys():  # deleted topics stop being reported
            metrics.KAFKA_UNDER_REPLICATED.remove(gone)
            metrics.KAFKA_OFFLINE.remove(gone)
        self._topics = set(health)
        metrics.KAFKA_HEALTH_LAST_REFRESH.set(time.time())
        return True

    def close(self) -> None:
        """Close the admin client (a later refresh opens a new one)."""
        if self._admin is not None:
            try:
                self._admin.close()
            except (KafkaError, OSError) as exc:  # closing a broken client must not mask the original error
                log.debug("closing the Kafka admin client failed", extra={"error": repr(exc)})
            self._admin = None
