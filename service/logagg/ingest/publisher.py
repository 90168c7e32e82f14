"""Publishing validated batches to Kafka (acks=all), one message per chunk of at most ~1 MiB.

kafka-python is synchronous: call ``publish`` from a worker thread, never on the event loop.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from logagg import metrics
from logagg.domain import LogRecord, encode_batch
from logagg.ingest.errors import KafkaUnavailable
from logagg.settings import Settings

log = logging.getLogger(__name__)


def chunk_messages(records: Sequence[LogRecord], max_bytes: int) -> list[bytes]:
    """Encode records into message values of at most ``max_bytes`` each (a lone record may exceed)."""
    if not records:
        return []
    value = encode_batch(records)
    if len(value) <= max_bytes or len(records) == 1:
        return [value]
    # Split into about the right number of parts first; split again only parts still too big.
    parts = min(len(records), -(-len(value) // max_bytes) + 1)
    step = -(-len(records) // parts)
    out: list[bytes] = []
    for start in range(0, len(records), step):
        out.extend(_split_to_fit(records[start : start + step], max_bytes))
    return out


def _split_to_fit(records: Sequence[LogRecord], max_bytes: int) -> list[bytes]:
    value = encode_batch(records)
    if len(value) <= max_bytes or len(records) == 1:
        return [value]
    half = len(records) // 2
    return _split_to_fit(records[:half], max_bytes) + _split_to_fit(records[half:], max_bytes)


class KafkaPublisher:
    """Owns the API's KafkaProducer (created lazily, so the API starts while Kafka is down)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def _config(self) -> dict[str, Any]:
        timeout_ms = int(self._settings.kafka_produce_timeout_seconds * 1000)
        request_timeout_ms = min(5_000, max(1_000, timeout_ms // 2))
        return {
            "bootstrap_servers": self._settings.kafka_servers(),
            "client_id": "logagg-api",
            "acks": "all",
            # Not idempotent: record ids are assigned before publishing, so a retried send stores
            # once anyway (primary key (ts, id)); and kafka-python's idempotent producer was seen to
            # wait forever for a producer id after a broker restart (bench/drills, Kafka drill).
            "enable_idempotence": False,
            # lz4: a fraction of gzip's CPU per batch (gzip was ~27 % of the API's ingest profile).
            "compression_type": "lz4",
            "linger_ms": 2,
            "max_request_size": max(1_048_576, self._settings.kafka_max_message_bytes + 65_536),
            "request_timeout_ms": request_timeout_ms,
            # A batch that times out here must not be delivered later behind a 503 we already sent,
            # so the producer gives up on it no later than the HTTP request does.
            "delivery_timeout_ms": max(timeout_ms, request_timeout_ms + 10),
            "max_block_ms": timeout_ms,
            # The first connection (at construction) is part of the same request budget.
            "bootstrap_timeout_ms": max(1_000, timeout_ms // 2),
            "retry_backoff_ms": 200,
            "reconnect_backoff_max_ms": 2_000,
            **self._settings.kafka_security_options(),
        }

    def _get_producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = KafkaProducer(**self._config())
                except KafkaError as exc:
                    raise KafkaUnavailable(f"Kafka is unreachable: {type(exc).__name__}") from exc
            return self._producer

    def publish(self, records: Sequence[LogRecord]) -> int:
        """Send the records and wait for every acks=all acknowledgement; returns messages sent.

        Raises KafkaUnavailable when Kafka does not acknowledge within the configured timeout.
        """
        messages = chunk_messages(records, self._settings.kafka_max_message_bytes)
        deadline = time.monotonic() + self._settings.kafka_produce_timeout_seconds
        started = time.perf_counter()
        producer = self._get_producer()
        try:
            futures = [producer.send(self._settings.kafka_topic, value=m) for m in messages]
            producer.flush(timeout=max(0.0, deadline - time.monotonic()))
            for future in futures:
                future.get(timeout=max(0.001, deadline - time.monotonic()))
        except KafkaError as exc:
            log.warning("kafka produce failed", extra={"error": type(exc).__name__})
            raise KafkaUnavailable(
                f"Kafka did not acknowledge the batch ({type(exc).__name__}); nothing was accepted"
            ) from exc
        metrics.KAFKA_PRODUCE_DURATION.observe(time.perf_counter() - started)
        return len(messages)

    def reachable(self, timeout: float = 2.0) -> bool:
        """True when a TCP connection to any bootstrap server succeeds (readiness probe)."""
        for server in self._settings.kafka_servers():
            host, _, port = server.rpartition(":")
            try:
                with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                    return True
            except (OSError, ValueError):
                continue
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Flush outstanding sends and close the producer."""
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=timeout)
                self._producer = None
