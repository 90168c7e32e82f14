"""Partition health: the pure counting on metadata structures, and the refresher on the real broker."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import UnknownTopicOrPartitionError
from logagg.consumer import metrics
from logagg.consumer.partition_health import (
    PartitionHealthRefresher,
    TopicHealth,
    count_partition_health,
)
from prometheus_client import REGISTRY

from tests.service.consumer.conftest import wait_for


def _partition(n: int, leader: int | None, replicas: list[int], isr: list[int]) -> dict[str, Any]:
    """One partition as kafka-python 3's describe_topics() returns it."""
    return {"error_code": 0, "partition_index": n, "leader_id": leader, "leader_epoch": 0,
            "replica_nodes": replicas, "isr_nodes": isr, "offline_replicas": []}


def test_counts_under_replicated_and_offline_partitions_per_topic() -> None:
    described = [
        {"error_code": 0, "name": "logs", "is_internal": False, "partitions": [
            _partition(0, 1, [1, 2, 3], [1, 2, 3]),   # healthy
            _partition(1, 2, [1, 2, 3], [2, 3]),      # under-replicated, has a leader
            _partition(2, -1, [1, 2, 3], [1]),        # offline (no leader) and under-replicated
            _partition(3, None, [1, 2], [1, 2]),      # leader missing from metadata: offline
        ]},
        {"error_code": 0, "name": "__consumer_offsets", "is_internal": True, "partitions": [
            _partition(0, 3, [3], [3])]},
        {"error_code": 0, "name": "empty", "is_internal": False, "partitions": []},
    ]
    assert count_partition_health(described) == {
        "logs": TopicHealth(partitions=4, under_replicated=2, offline=2),
        "__consumer_offsets": TopicHealth(partitions=1, under_replicated=0, offline=0),
        "empty": TopicHealth(partitions=0, under_replicated=0, offline=0),
    }


def test_replication_factor_one_is_healthy() -> None:
    # A single-replica partition whose only replica is in sync is not under-replicated.
    assert count_partition_health([{"name": "t", "partitions": [_partition(0, 1, [1], [1])]}]) == {
        "t": TopicHealth(1, 0, 0)}


def test_reads_the_kafka_python_2_field_names() -> None:
    legacy = [{"topic": "old", "partitions": [
        {"partition": 0, "leader": -1, "replicas": [1, 2], "isr": [1]},
        {"partition": 1, "leader": 2, "replicas": [1, 2], "isr": [2, 1]}]}]
    assert count_partition_health(legacy) == {"old": TopicHealth(2, 1, 1)}


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


@pytest.fixture
def rf1_topic(kafka_bootstrap: str) -> Iterator[str]:
    """A fresh three-partition topic with replication factor 1 (healthy on the single broker)."""
    name = f"health-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
        yield name
    finally:
        for leftover in (name, f"{name}-gone"):  # the test deletes one and creates the other
            try:
                admin.delete_topics([leftover])
            except UnknownTopicOrPartitionError:
                pass
        admin.close()


def test_refresher_exports_zero_for_healthy_topics_and_forgets_deleted_ones(
    kafka_bootstrap: str, rf1_topic: str
) -> None:
    refresher = PartitionHealthRefresher(lambda: KafkaAdminClient(bootstrap_servers=kafka_bootstrap))
    try:
        before = _sample("logagg_kafka_partition_health_last_refresh_timestamp_seconds") or 0.0
        assert refresher.refresh() is True
        assert _sample("logagg_kafka_under_replicated_partitions", topic=rf1_topic) == 0
        assert _sample("logagg_kafka_offline_partitions", topic=rf1_topic) == 0
        refreshed = _sample("logagg_kafka_partition_health_last_refresh_timestamp_seconds")
        assert refreshed is not None and refreshed > before

        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.delete_topics([rf1_topic])
            gone = f"{rf1_topic}-gone"  # proves the label set follows the cluster, not a stale cache
            admin.create_topics([NewTopic(gone, num_partitions=1, replication_factor=1)])
        finally:
            admin.close()
        # Deletion and creation propagate asynchronously: refresh until the metadata shows both.
        wait_for(lambda: refresher.refresh()
                 and _sample("logagg_kafka_under_replicated_partitions", topic=rf1_topic) is None
                 and _sample("logagg_kafka_under_replicated_partitions", topic=gone) is not None,
                 "the deleted topic gone and the new one described", timeout=60)
        assert _sample("logagg_kafka_under_replicated_partitions", topic=rf1_topic) is None
        assert _sample("logagg_kafka_offline_partitions", topic=rf1_topic) is None
        assert _sample("logagg_kafka_under_replicated_partitions", topic=gone) == 0
    finally:
        refresher.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metadata_failure_is_counted_and_never_raises() -> None:
    port = _closed_port()
    refresher = PartitionHealthRefresher(lambda: KafkaAdminClient(
        bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=2000, api_version_auto_timeout_ms=2000))
    errors = _sample("logagg_kafka_metadata_errors_total") or 0.0
    assert refresher.refresh() is False
    assert refresher.refresh() is False  # the next attempt reconnects and fails the same way
    assert _sample("logagg_kafka_metadata_errors_total") == errors + 2


def test_backup_gauges_have_no_sample_until_set() -> None:
    gauge = metrics.OptionalGauge("logagg_test_optional", "test", registry=None)
    assert [s.value for f in gauge.collect() for s in f.samples] == []
    gauge.set(0)
    assert [s.value for f in gauge.collect() for s in f.samples] == [0]
    gauge.set(None)
    assert [s.value for f in gauge.collect() for s in f.samples] == []
