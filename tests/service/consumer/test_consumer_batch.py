"""BatchWriter against real PostgreSQL: poison isolation down to single records, redelivery, outages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from logagg.consumer.batch import BatchWriter, TransientWriteError
from logagg.domain import encode_batch

from tests.service.consumer.conftest import count_rows, counted
from tests.service.store.factories import make_record, unique_service

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Message:
    """The fields of a Kafka ConsumerRecord the writer reads."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


def test_bad_records_are_bisected_out_and_named(consumer_dsn: str) -> None:
    service = unique_service("bisect")
    records = [make_record(service, NOW + timedelta(seconds=i), message=f"m{i}") for i in range(200)]
    records[17] = make_record(service, NOW, message="nul \x00")
    records[150] = make_record(service, NOW, message="lone surrogate \ud800")
    other = [make_record(service, NOW, message="other message") for _ in range(5)]
    topic = f"t-{service}"
    batch = [Message(topic, 0, 10, encode_batch(records)), Message(topic, 0, 11, encode_batch(other))]
    writer = BatchWriter(consumer_dsn)
    try:
        result = writer.write(batch)
        assert result.inserted == 203 and result.records == 203
        [letter] = result.dead_letters
        assert letter.offset == 10
        assert letter.reason.startswith("insert: 2 of 200 records rejected (198 stored): records[17] id=")
        assert "records[150] id=" in letter.reason
        assert count_rows(consumer_dsn, service) == (203, 203)
        assert counted(consumer_dsn, service) == 203

        # redelivery of the whole batch: nothing new, and the dead letter is not duplicated
        again = writer.write(batch)
        assert again.inserted == 0
        with psycopg.connect(consumer_dsn) as conn:
            row = conn.execute("SELECT count(*) FROM dead_letters WHERE topic = %s", (topic,)).fetchone()
        assert row == (1,)
    finally:
        writer.close()


def test_unreachable_database_is_transient_not_poison() -> None:
    writer = BatchWriter("postgresql://nobody@127.0.0.1:1/none", connect_timeout=1)
    message = Message("t", 0, 0, encode_batch([make_record("svc", NOW)]))
    with pytest.raises(TransientWriteError, match="cannot connect"):
        writer.write([message])
