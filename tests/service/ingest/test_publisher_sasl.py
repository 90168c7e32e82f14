"""Kafka SASL/PLAIN end to end: a separate real broker with a SASL_PLAINTEXT listener, the service's
KafkaPublisher producing and a consumer reading back, both configured only through Settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from logagg.domain import LogRecord, decode_batch
from logagg.ingest.errors import KafkaUnavailable
from logagg.ingest.ids import new_record_id
from logagg.ingest.publisher import KafkaPublisher
from logagg.settings import Settings

from tests.localsvc import processes
from tests.localsvc.kafka import KafkaBroker

USER, PASSWORD = "logagg", "sasl-Secret-0123"


class SaslBroker(KafkaBroker):
    """A KafkaBroker with an extra SASL_PLAINTEXT (PLAIN) listener; the default broker is untouched.

    The PLAINTEXT listener stays for inter-broker traffic and the readiness check.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sasl_port = processes.free_port()
        while self.sasl_port in (self.port, self.controller_port):
            self.sasl_port = processes.free_port()

    @property
    def sasl_bootstrap(self) -> str:
        """`host:port` of the SASL listener."""
        return f"127.0.0.1:{self.sasl_port}"

    def _write_properties(self) -> None:
        super()._write_properties()
        props = dict(line.split("=", 1) for line in self._properties.read_text().splitlines() if line)
        sasl = f"SASL://127.0.0.1:{self.sasl_port}"
        props["listeners"] += f",{sasl}"
        props["advertised.listeners"] += f",{sasl}"
        props["listener.security.protocol.map"] += ",SASL:SASL_PLAINTEXT"
        props["sasl.enabled.mechanisms"] = "PLAIN"
        props["listener.name.sasl.plain.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{USER}="{PASSWORD}";'
        )
        self._properties.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


@pytest.fixture(scope="module")
def sasl_broker() -> Iterator[SaslBroker]:
    with SaslBroker() as broker:  # stops the JVM and removes its temporary home
        yield broker


def _settings(broker: SaslBroker, topic: str, password: str = PASSWORD) -> Settings:
    return Settings(
        kafka_bootstrap_servers=broker.sasl_bootstrap, kafka_topic=topic,
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username=USER, kafka_sasl_password=password, kafka_produce_timeout_seconds=10,
    )


def _client_options(settings: Settings) -> dict[str, Any]:
    return {"bootstrap_servers": settings.kafka_servers(), **settings.kafka_security_options()}


def test_publish_and_consume_over_sasl_plain(sasl_broker: SaslBroker) -> None:
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    settings = _settings(sasl_broker, topic)
    admin = KafkaAdminClient(**_client_options(settings))
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    record = LogRecord(id=new_record_id(), ts=datetime.now(UTC), service="sasl", level="info",
                       message="over SASL/PLAIN")
    publisher = KafkaPublisher(settings)
    try:
        assert publisher.publish([record]) == 1
    finally:
        publisher.close()
    consumer = KafkaConsumer(topic, group_id=f"g-{topic}", auto_offset_reset="earliest",
                             consumer_timeout_ms=20_000, **_client_options(settings))
    try:
        received = [r for message in consumer for r in decode_batch(message.value)]
    finally:
        consumer.close()
    assert [(r.id, r.message) for r in received] == [(record.id, "over SASL/PLAIN")]


def test_wrong_password_is_refused_and_not_echoed(sasl_broker: SaslBroker) -> None:
    wrong = "wrong-Secret-9876"
    settings = _settings(sasl_broker, "never-created", password=wrong)
    record = LogRecord(id=new_record_id(), ts=datetime.now(UTC), service="sasl", level="info",
                       message="must not arrive")
    publisher = KafkaPublisher(settings)
    try:
        with pytest.raises(KafkaUnavailable) as info:
            publisher.publish([record])
    finally:
        publisher.close()
    assert wrong not in str(info.value) and PASSWORD not in str(info.value)
