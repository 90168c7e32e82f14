"""Consumer tests: the real consumer as a subprocess against real Kafka and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from logagg.domain import LogRecord, encode_batch

from tests.service.store.factories import migrated_database

REPO = Path(__file__).resolve().parents[3]
WAIT_SECONDS = 90


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Poll ``condition`` until it returns a truthy value; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ConsumerProcess:
    """``python -m logagg.consumer`` in a subprocess, with its stderr kept for failure reports."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.metrics_port = int(env["LOGAGG_METRICS_PORT"])
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "logagg.consumer"], env=env, cwd=REPO, stdout=self._log, stderr=self._log
        )

    def metrics(self) -> str:
        """The /metrics text ('' while the server is not up yet)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            return ""

    def metric(self, line_prefix: str) -> float | None:
        """Value of the first sample whose line starts with ``line_prefix``."""
        for line in self.metrics().splitlines():
            if line.startswith(line_prefix + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def wait_exit(self, timeout: float = 60) -> int:
        """Wait for the process to exit; returns its exit code."""
        return self.proc.wait(timeout=timeout)

    def terminate(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit()

    def output(self) -> str:
        """Everything the process logged so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        """Kill the process if still running."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def consumer_dsn(pg_dsn: str) -> Iterator[str]:
    """A migrated database shared by the consumer tests (each test uses its own services)."""
    yield from migrated_database(pg_dsn, "consumer")


@pytest.fixture
def topic(kafka_bootstrap: str) -> Iterator[str]:
    """A fresh two-partition topic for one test."""
    name = f"logs-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
        yield name
    finally:
        admin.close()


@pytest.fixture
def producer(kafka_bootstrap: str) -> Iterator[KafkaProducer]:
    """A producer configured like the API's (acks=all, gzip)."""
    p = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", compression_type="gzip")
    yield p
    p.close()


def send(producer: KafkaProducer, topic: str, values: list[bytes], partition: int | None = None) -> None:
    """Produce raw message values and wait for every acknowledgement."""
    for value in values:
        producer.send(topic, value=value, partition=partition).get(timeout=30)
    producer.flush()


def send_batches(producer: KafkaProducer, topic: str, batches: list[list[LogRecord]]) -> None:
    """Produce one message per batch of records, spread over the partitions."""
    for i, batch in enumerate(batches):
        producer.send(topic, value=encode_batch(batch), partition=i % 2).get(timeout=30)
    producer.flush()


@pytest.fixture
def start_consumer(
    consumer_dsn: str, kafka_bootstrap: str, topic: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., ConsumerProcess]]:
    """Factory starting consumer processes for this test's topic and group; all are killed at the end."""
    group = f"group-{uuid.uuid4().hex[:8]}"
    started: list[ConsumerProcess] = []

    def start(**extra_env: str) -> ConsumerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOGAGG_")}
        env.update(
            PYTHONPATH=str(REPO / "service"),
            LOGAGG_ENV="dev",
            LOGAGG_DATABASE_URL=consumer_dsn,
            DATABASE_URL=consumer_dsn,
            LOGAGG_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
            KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
            LOGAGG_KAFKA_TOPIC=topic,
            LOGAGG_KAFKA_CONSUMER_GROUP=group,
            LOGAGG_METRICS_PORT=str(_free_port()),
            LOGAGG_LOG_LEVEL="info",
            # short, so a crashed consumer's partitions move on quickly; not the broker's 6 s minimum,
            # which a loaded CI machine can miss between heartbeats (spurious rebalances)
            LOGAGG_CONSUMER_SESSION_TIMEOUT_MS="10000",
        )
        env.update(extra_env)
        proc = ConsumerProcess(env, tmp_path / f"consumer-{len(started)}.log")
        started.append(proc)
        return proc

    start.group = group  # type: ignore[attr-defined]
    yield start
    failed = getattr(request.node, "rep_call", None)
    for proc in started:
        if failed is not None and failed.failed:
            print(f"--- {proc.log_path.name}\n{proc.output()[-4000:]}")
        proc.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's report on the item, so fixtures can show consumer logs on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def count_rows(dsn: str, service: str) -> tuple[int, int]:
    """(rows, distinct ids) stored for ``service``."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT id) FROM logs WHERE service = %s", (service,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def counted(dsn: str, service: str) -> int:
    """Records of ``service`` according to the per-minute counts."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT coalesce(sum(count), 0) FROM log_counts WHERE service = %(s)s),"
            "       (SELECT coalesce(sum(count), 0) FROM log_counts_15m WHERE service = %(s)s)", {"s": service}
        ).fetchone()
        assert row is not None and row[0] == row[1], f"per-minute and quarter-hour counts disagree: {row}"
    assert row is not None
    return int(row[0])


def committed_offsets(kafka_bootstrap: str, group: str) -> dict[int, int]:
    """Committed offset per partition of ``group``."""
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


def group_description(kafka_bootstrap: str, group: str) -> dict[str, Any]:
    """The broker's description of ``group`` (``group_state``, ``members``, ...)."""
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        return dict(admin.describe_groups([group])[group])
    finally:
        admin.close()
