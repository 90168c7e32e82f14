"""Writing one poll batch of Kafka messages to PostgreSQL, isolating poison messages.

Happy path: every decodable message's records go in with one COPY in one transaction, together
with the dead letters of undecodable messages. If PostgreSQL rejects the data, the batch is
retried message by message, and a rejected message is bisected down to its bad records: the good
records are stored and the message is dead-lettered with the indexes and errors of the bad ones. Redriving it later is
safe because inserts are idempotent. Transient failures (connection lost, deadlock, ...) propagate
as ``TransientWriteError`` so the caller retries the whole batch without committing offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg

from logagg.consumer.errors import describe, is_data_error
from logagg.domain import InvalidBatch, LogRecord, decode_batch
from logagg.store.dead_letters import DeadLetter, add_dead_letters
from logagg.store.partitions import PartitionCache, partition_day
from logagg.store.writer import insert_records

log = logging.getLogger(__name__)

#: How many bad records of one message are named in its dead-letter reason.
_MAX_NAMED_ERRORS = 5


class KafkaMessage(Protocol):
    """What the writer needs of a kafka-python ``ConsumerRecord``."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


class TransientWriteError(Exception):
    """PostgreSQL is unavailable or the write hit a transient conflict; retry the batch later."""


@dataclass
class WriteResult:
    """Outcome of one batch."""

    records: int = 0
    inserted: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


@dataclass
class _Decoded:
    message: KafkaMessage
    records: list[LogRecord]


class BatchWriter:
    """Owns one PostgreSQL connection (reconnected after failures) and writes poll batches."""

    def __init__(self, dsn: str, *, connect_timeout: int = 5) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._partitions = PartitionCache()

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """The open connection, connecting first when needed (raises ``TransientWriteError``)."""
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._connect_timeout)
            except psycopg.Error as exc:
                raise TransientWriteError(f"cannot connect to PostgreSQL: {describe(exc)}") from exc
        return self._conn

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def write(self, messages: Sequence[KafkaMessage]) -> WriteResult:
        """Store the batch; returns counts and the dead letters written. Commits before returning."""
        result = WriteResult()
        decoded: list[_Decoded] = []
        for msg in messages:
            try:
                decoded.append(_Decoded(msg, decode_batch(msg.value)))
            except InvalidBatch as exc:
                result.dead_letters.append(_dead_letter(msg, f"decode: {exc}"))
        try:
            self._write_all(decoded, result)
        except TransientWriteError:
            raise
        except Exception as exc:
            if not is_data_error(exc):
                raise self._transient(exc) from exc
            log.warning("batch rejected by PostgreSQL; isolating the bad message(s)", extra={"error": describe(exc)})
            self._partitions.forget()
            result = WriteResult(dead_letters=[dl for dl in result.dead_letters if dl.reason.startswith("decode")])
            self._write_isolated(decoded, result)
        return result

    def _transient(self, exc: BaseException) -> TransientWriteError:
        # The connection may be broken or mid-transaction: start over with a fresh one.
        self.close()
        return TransientWriteError(describe(exc))

    def _ensure_partitions(self, records: Sequence[LogRecord]) -> None:
        self._partitions.ensure(self.conn, {partition_day(r.ts) for r in records})

    def _write_all(self, decoded: list[_Decoded], result: WriteResult) -> None:
        records = [r for d in decoded for r in d.records]
        conn = self.conn
        try:
            self._ensure_partitions(records)
            with conn.transaction():
                result.inserted = insert_records(conn, records)
                add_dead_letters(conn, result.dead_letters)
        except psycopg.OperationalError as exc:
            raise self._transient(exc) from exc
        result.records = len(records)

    def _write_isolated(self, decoded: list[_Decoded], result: WriteResult) -> None:
        """Slow path: one transaction per message; a rejected message is bisected to its bad records."""
        for item in decoded:
            errors: list[str] = []
            result.inserted += self._insert_bisecting(item.records, 0, errors)
            result.records += len(item.records) - len(errors)
            if not errors:
                continue
            named = "; ".join(errors[:_MAX_NAMED_ERRORS])
            more = f"; and {len(errors) - _MAX_NAMED_ERRORS} more" if len(errors) > _MAX_NAMED_ERRORS else ""
            stored = len(item.records) - len(errors)
            reason = f"insert: {len(errors)} of {len(item.records)} records rejected ({stored} stored): {named}{more}"
            result.dead_letters.append(_dead_letter(item.message, reason))
        try:
            with self.conn.transaction():
                add_dead_letters(self.conn, result.dead_letters)
        except psycopg.Error as exc:
            raise self._transient(exc) from exc

    def _insert_bisecting(self, records: Sequence[LogRecord], first_index: int, errors: list[str]) -> int:
        """Insert ``records``; on a data error split in halves until the bad records are single.

        A few bad records among thousands cost O(bad * log n) transactions instead of n.
        Appends ``records[i] id=...: reason`` to ``errors`` for each rejected record.
        """
        if not records:
            return 0
        try:
            return self._insert_in_own_transaction(records)
        except Exception as exc:
            if not is_data_error(exc):
                raise self._transient(exc) from exc
            if len(records) == 1:
                errors.append(f"records[{first_index}] id={records[0].id!r}: {describe(exc)}")
                return 0
        middle = len(records) // 2
        return self._insert_bisecting(records[:middle], first_index, errors) + self._insert_bisecting(
            records[middle:], first_index + middle, errors
        )

    def _insert_in_own_transaction(self, records: Sequence[LogRecord]) -> int:
        self._ensure_partitions(records)
        with self.conn.transaction():
            return insert_records(self.conn, records)


def _dead_letter(msg: KafkaMessage, reason: str) -> DeadLetter:
    return DeadLetter(topic=msg.topic, partition=msg.partition, offset=msg.offset, reason=reason, payload=msg.value)
