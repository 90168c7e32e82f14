"""The system under test: local PostgreSQL + Kafka, migrated databases, API and consumer processes.

The API and the consumer run exactly as deployed — ``python -m logagg api`` (uvicorn, one worker)
and ``python -m logagg consumer`` — as child processes that die with the harness (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx
import psycopg
from kafka.admin import KafkaAdminClient, NewTopic
from logagg import migrate
from psycopg import conninfo, sql

from tests.localsvc import KafkaBroker, PostgresServer, processes, start_concurrently

REPO = Path(__file__).resolve().parents[1]
STATE_DIR = REPO / ".local" / "bench"
#: Server settings for benchmark runs (persisted in the cached cluster's postgresql.auto.conf).
#: Modest values a small production instance would have; fsync and synchronous_commit stay on.
PG_TUNING = {
    "shared_buffers": "512MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "work_mem": "16MB",
    "maintenance_work_mem": "256MB",
}


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database on the same server."""
    return conninfo.make_conninfo(dsn, dbname=database)


def create_migrated_database(admin_dsn: str, name: str) -> str:
    """(Re)create database ``name`` with every migration applied; returns its DSN."""
    drop_database(admin_dsn, name)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = with_database(admin_dsn, name)
    migrate.apply(dsn)
    return dsn


def drop_database(admin_dsn: str, name: str, attempts: int = 30) -> None:
    """Drop ``name`` if it exists (disconnecting its sessions).

    An autovacuum worker on a freshly loaded table runs as the superuser, which the application role
    may not terminate (InsufficientPrivilege): wait for it to finish and try again.
    """
    for attempt in range(attempts):
        try:
            with psycopg.connect(admin_dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == attempts - 1:
                raise
            time.sleep(1)


def database_exists(admin_dsn: str, name: str) -> bool:
    """True when database ``name`` exists."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def create_topic(bootstrap: str, partitions: int = 1, prefix: str = "bench") -> str:
    """A fresh topic; returns its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="logagg-bench")
    try:
        admin.create_topics([NewTopic(name=name, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()
    return name


@contextlib.contextmanager
def local_servers(*, cached_pg: bool = True) -> Iterator[tuple[PostgresServer, KafkaBroker]]:
    """A durable PostgreSQL (data kept in .local/bench/ so big data sets survive runs) and a Kafka broker."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    pg = PostgresServer(STATE_DIR / "postgres" if cached_pg else None, durable=True)
    kafka = KafkaBroker()
    try:
        start_concurrently(pg, kafka)
        _tune(pg)
        yield pg, kafka
    finally:
        kafka.close()
        pg.close()


def _tune(pg: PostgresServer) -> None:
    with psycopg.connect(pg.admin_dsn, autocommit=True) as conn:
        for name, value in PG_TUNING.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")
        needs_restart = conn.execute(
            "SELECT count(*) FROM pg_settings WHERE pending_restart"
        ).fetchone()
    if needs_restart and needs_restart[0]:
        pg.restart()


@dataclass
class ServiceConfig:
    """What the API and consumer processes of one run are pointed at."""

    database_url: str
    bootstrap: str
    topic: str
    api_key: str = field(default_factory=lambda: "bench_" + secrets.token_urlsafe(24))
    group: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **overrides: str) -> dict[str, str]:
        """Environment for a ``python -m logagg`` child."""
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("LOGAGG_") and k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
        base.update(
            PYTHONPATH=os.pathsep.join([str(REPO / "service"), str(REPO)]),
            LOGAGG_ENV="dev",
            LOGAGG_LOG_LEVEL="warning",
            LOGAGG_DATABASE_URL=self.database_url,
            LOGAGG_KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            LOGAGG_KAFKA_TOPIC=self.topic,
            LOGAGG_KAFKA_CONSUMER_GROUP=self.group or f"{self.topic}-group",
            LOGAGG_API_KEYS=self.api_key,
            # The limiter is per key; the benchmark client is one key sending as fast as it can.
            LOGAGG_RATE_LIMIT_PER_SECOND="1000000",
            LOGAGG_RATE_LIMIT_BURST="1000000",
        )
        base.update(self.extra_env)
        base.update(overrides)
        return base


class ServiceProcess:
    """One ``python -m logagg <role>`` child with its output in a log file."""

    def __init__(self, role: str, config: ServiceConfig, log_dir: Path, **env: str) -> None:
        self.role = role
        self.config = config
        self.port = processes.free_port()
        self.metrics_port = processes.free_port()
        self.log_path = log_dir / f"{role}-{uuid.uuid4().hex[:6]}.log"
        self._env = config.env(LOGAGG_METRICS_PORT=str(self.metrics_port), **env)
        self.proc: subprocess.Popen[bytes] | None = None
        log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """Process id (the process must have been started)."""
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, wait: bool = True, timeout: float = 60) -> ServiceProcess:
        """Spawn the process; with ``wait``, block until it is ready."""
        args = ["api", "--host", "127.0.0.1", "--port", str(self.port)] if self.role == "api" else [self.role]
        self.proc = processes.spawn([sys.executable, "-m", "logagg", *args], log_path=self.log_path,
                                    persistent=False, env=self._env, cwd=REPO)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """API: /health/ready answers 200; consumer: its /metrics answers."""
        probe = f"{self.url}/health/ready" if self.role == "api" else f"http://127.0.0.1:{self.metrics_port}/metrics"
        processes.wait_until(lambda: _answers(probe), what=f"logagg {self.role}", timeout=timeout,
                             alive=self.alive, log_path=self.log_path, interval=0.2)

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> str:
        """The Prometheus text of the process ('' when unreachable)."""
        url = f"{self.url}/metrics" if self.role == "api" else f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return str(response.read().decode())
        except OSError:
            return ""

    def metric_sum(self, name: str) -> float | None:
        """Sum of every sample of metric ``name`` (all label sets), None when absent."""
        values = [float(line.rsplit(" ", 1)[1]) for line in self.metrics().splitlines()
                  if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{")]
        return sum(values) if values else None

    def rss_bytes(self) -> int:
        """Resident set size of the process."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def kill(self) -> None:
        """SIGKILL, no grace."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            processes.terminate(self.proc.pid, sig=signal.SIGTERM, timeout=timeout, child=self.proc)
        return self.proc.wait(timeout=10)

    def output(self, tail: int = 40) -> str:
        """The last lines the process logged."""
        return processes.log_tail(self.log_path, tail)

    def __enter__(self) -> Self:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(predicate: object, *, timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate()`` until true or ``timeout``; returns its last value."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
