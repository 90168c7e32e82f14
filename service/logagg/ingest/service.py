"""The ingest use case: decoded body → validated records → Kafka → count accepted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from logagg import metrics
from logagg.domain import LogRecord, ingest_window
from logagg.ingest.parse import parse_body
from logagg.ingest.validate import validate_records
from logagg.settings import Settings


class Publisher(Protocol):
    """Anything that durably publishes a batch or raises KafkaUnavailable."""

    def publish(self, records: list[LogRecord]) -> int:
        """Publish and wait for acknowledgement; returns the number of messages."""
        ...


def accept_batch(
    body: bytes, content_type: str | None, settings: Settings, publisher: Publisher
) -> int:
    """Parse, validate (all-or-nothing) and publish one request body; returns records accepted.

    Blocking (CPU and Kafka): run it in a worker thread. Raises IngestRejected subclasses.
    """
    items = parse_body(body, content_type, settings.max_request_records)
    now = datetime.now(UTC)
    records = validate_records(items, now=now, window=ingest_window(now, settings))
    publisher.publish(records)
    metrics.INGEST_RECORDS.inc(len(records))
    metrics.INGEST_BYTES.inc(len(body))
    metrics.INGEST_BATCHES.inc()
    return len(records)
