"""The consumer process: Kafka consumer group → PostgreSQL, at-least-once.

Per poll batch: decode and write it in one DB transaction, commit that transaction, and only then
commit the Kafka offsets. A crash in between redelivers the batch, which the idempotent insert
absorbs. While PostgreSQL is unavailable the batch is retried with exponential backoff; the
assigned partitions are paused and ``poll`` keeps the group membership alive meanwhile, and no
offset is committed. SIGTERM/SIGINT finish the in-flight batch, commit, and leave the group.

Test hook: with ``LOGAGG_TEST_CRASH_AFTER_DB_COMMIT=1`` (ignored when ``LOGAGG_ENV=prod``) the
process calls ``os._exit(CRASH_EXIT_CODE)`` right after the first DB commit, before committing
offsets — the SIGKILL-at-the-worst-moment drill of the test suite.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any, Protocol

import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from kafka.errors import CommitFailedError, KafkaError  # type: ignore[import-untyped]
from kafka.structs import OffsetAndMetadata  # type: ignore[import-untyped]
from prometheus_client import start_http_server

from logagg.consumer import metrics
from logagg.consumer.batch import BatchWriter, KafkaMessage, TransientWriteError
from logagg.consumer.partition_health import (
    DEFAULT_REFRESH_SECONDS,
    PartitionHealthRefresher,
)
from logagg.store.backup_runs import backup_status

log = logging.getLogger(__name__)

CRASH_ENV = "LOGAGG_TEST_CRASH_AFTER_DB_COMMIT"
CRASH_EXIT_CODE = 86
#: Kafka messages per poll: a message holds up to ~1 MiB of records (hundreds to thousands).
RECORDS_PER_MESSAGE_ESTIMATE = 500
BACKUP_REFRESH_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 30.0


class ConsumerSettings(Protocol):
    """The settings the consumer reads (read-only, so ``Settings`` with narrower types conforms)."""

    @property
    def env(self) -> str: ...
    @property
    def kafka_topic(self) -> str: ...
    @property
    def kafka_consumer_group(self) -> str: ...
    @property
    def metrics_port(self) -> int: ...
    @property
    def kafka_health_refresh_seconds(self) -> float: ...
    @property
    def consumer_max_batch_records(self) -> int: ...
    @property
    def consumer_poll_timeout_ms(self) -> int: ...
    @property
    def consumer_session_timeout_ms(self) -> int: ...

    def database_dsn(self) -> str: ...
    def kafka_servers(self) -> list[str]: ...
    def kafka_security_options(self) -> dict[str, Any]: ...


class LogConsumer:
    """One consumer-group member writing batches to PostgreSQL; ``run()`` until ``stop()``."""

    def __init__(
        self, settings: ConsumerSettings, *, partition_health_seconds: float = DEFAULT_REFRESH_SECONDS
    ) -> None:
        self._settings = settings
        self._stop = threading.Event()
        self._writer = BatchWriter(settings.database_dsn())
        self._consumer: KafkaConsumer | None = None
        self._crash_after_commit = os.environ.get(CRASH_ENV) == "1" and settings.env != "prod"
        self._next_backup_refresh = 0.0
        self._partition_health = PartitionHealthRefresher(self._admin_client, partition_health_seconds)

    def stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """Ask the loop to finish the in-flight batch and exit (signal-handler compatible)."""
        if signum is not None:
            log.info("signal received; finishing the in-flight batch", extra={"signal": signum})
        self._stop.set()

    def _admin_client(self) -> KafkaAdminClient:
        """An admin client for cluster metadata (same servers and security as the consumer)."""
        return KafkaAdminClient(
            bootstrap_servers=self._settings.kafka_servers(),
            client_id="logagg-consumer-health",
            request_timeout_ms=10000,
            **self._settings.kafka_security_options(),
        )

    def _connect_kafka(self) -> KafkaConsumer | None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                return KafkaConsumer(
                    self._settings.kafka_topic,
                    bootstrap_servers=self._settings.kafka_servers(),
                    group_id=self._settings.kafka_consumer_group,
                    client_id="logagg-consumer",
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    session_timeout_ms=self._settings.consumer_session_timeout_ms,
                    # Kafka's advice: heartbeat at most every third of the session timeout
                    heartbeat_interval_ms=min(3000, self._settings.consumer_session_timeout_ms // 3),
                    **self._settings.kafka_security_options(),
                )
            except KafkaError as exc:
                log.warning("Kafka unavailable; retrying", extra={"error": repr(exc), "backoff_s": backoff})
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        return None

    def run(self) -> None:
        """Consume until stopped; always leaves the group and closes the DB connection."""
        self._consumer = self._connect_kafka()
        if self._consumer is None:
            return
        max_messages = max(1, self._settings.consumer_max_batch_records // RECORDS_PER_MESSAGE_ESTIMATE)
        log.info("consumer started", extra={"topic": self._settings.kafka_topic})
        try:
            while not self._stop.is_set():
                polled = self._consumer.poll(
                    timeout_ms=self._settings.consumer_poll_timeout_ms, max_records=max_messages
                )
                messages = [m for batch in polled.values() for m in batch]
                if messages and self._write_with_retry(messages):
                    self._commit(messages)
                self._update_lag()
                self._refresh_backup_gauges()
                self._partition_health.maybe_refresh()
        finally:
            log.info("consumer stopping; leaving the group")
            self._consumer.close(autocommit=False)
            self._partition_health.close()
            self._writer.close()

    def _write_with_retry(self, messages: Sequence[KafkaMessage]) -> bool:
        """Write until it succeeds (True) or a stop is requested while PostgreSQL is down (False)."""
        assert self._consumer is not None
        backoff = 0.5
        paused = False
        try:
            while True:
                started = time.perf_counter()
                try:
                    result = self._writer.write(messages)
                except TransientWriteError as exc:
                    if self._stop.is_set():
                        log.warning("stopping with an unwritten batch; Kafka will redeliver it")
                        return False
                    log.warning("PostgreSQL write failed; retrying", extra={"error": str(exc), "backoff_s": backoff})
                    paused = True
                    self._wait_paused(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
                metrics.DB_WRITE_DURATION.observe(time.perf_counter() - started)
                break
        finally:
            if paused:
                self._consumer.resume(*self._consumer.assignment())
        metrics.CONSUMER_RECORDS.inc(result.records)
        for dl in result.dead_letters:
            metrics.DEAD_LETTERS.labels(reason=dl.reason.split(":", 1)[0]).inc()
            log.error(
                "message dead-lettered",
                extra={"topic": dl.topic, "partition": dl.partition, "offset": dl.offset, "reason": dl.reason},
            )
        if self._crash_after_commit:
            os._exit(CRASH_EXIT_CODE)
        return True

    def _wait_paused(self, seconds: float) -> None:
        """Wait with the partitions paused; returns early on stop.

        ``poll`` (not sleep) keeps heartbeats and max.poll.interval happy, so we keep our partitions;
        short slices let SIGTERM end the wait within half a second.
        """
        assert self._consumer is not None
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._consumer.pause(*self._consumer.assignment())
            polled = self._consumer.poll(timeout_ms=int(min(0.5, max(0.0, deadline - time.monotonic())) * 1000))
            # A rebalance inside poll can hand us new, unpaused partitions whose records come back
            # right away: rewind them, or the next batch would skip (and later commit past) them.
            for tp, records in polled.items():
                self._consumer.seek(tp, records[0].offset)

    def _commit(self, messages: Sequence[KafkaMessage]) -> None:
        """Commit the offsets after the last message of each partition in the batch."""
        assert self._consumer is not None
        last: dict[TopicPartition, int] = {}
        for m in messages:
            tp = TopicPartition(m.topic, m.partition)
            last[tp] = max(last.get(tp, -1), m.offset)
        offsets = {tp: OffsetAndMetadata(offset + 1, "", -1) for tp, offset in last.items()}
        try:
            self._consumer.commit(offsets)
        except CommitFailedError as exc:
            # The group rebalanced while we were writing: the new owner re-reads these messages,
            # and the idempotent insert absorbs the repeat.
            log.warning("offset commit rejected after a rebalance", extra={"error": str(exc)})
            return
        except KafkaError as exc:
            # Coordinator unreachable: the next batch's commit covers these offsets too; until then
            # a restart would only redeliver already-stored (deduplicated) messages.
            log.warning("offset commit failed; will be covered by the next commit", extra={"error": repr(exc)})
            return
        metrics.CONSUMER_BATCHES.inc()

    def _update_lag(self) -> None:
        assert self._consumer is not None
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = self._consumer.position(tp, timeout_ms=1000)
            except KafkaError:
                continue
            if position is not None:
                metrics.CONSUMER_LAG.labels(partition=str(tp.partition)).set(max(0, highwater - position))

    def _refresh_backup_gauges(self) -> None:
        now = time.monotonic()
        if now < self._next_backup_refresh:
            return
        self._next_backup_refresh = now + BACKUP_REFRESH_SECONDS
        try:
            status = backup_status(self._writer.conn)
        except (psycopg.Error, TransientWriteError) as exc:  # best effort; writes report DB trouble
            log.warning("cannot read backup_runs", extra={"error": str(exc)})
            self._writer.close()
            return
        # None (no such run yet) → no sample, so alerts never mistake "nothing yet" for a failure.
        backup, verified, ok = status.last_backup_success, status.last_verify_success, status.last_verify_ok
        metrics.BACKUP_LAST_SUCCESS.set(None if backup is None else backup.timestamp())
        metrics.RESTORE_VERIFY_LAST_SUCCESS.set(None if verified is None else verified.timestamp())
        metrics.RESTORE_VERIFY_OK.set(None if ok is None else float(ok))


def run_consumer(
    settings: ConsumerSettings,
    *,
    serve_metrics: bool = True,
    partition_health_seconds: float | None = None,
) -> None:
    """Entry point of ``logagg consumer``: metrics server, signal handlers, then the loop."""
    if serve_metrics:
        start_http_server(settings.metrics_port)
    consumer = LogConsumer(
        settings,
        partition_health_seconds=partition_health_seconds or settings.kafka_health_refresh_seconds,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, consumer.stop)
    consumer.run()
