"""Ingest-side measurements: HTTP accept rate, end to end (HTTP → Kafka → consumer → queryable), soak."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.cpu import CpuMeter
from bench.profile import Profiler
from bench.stack import (
    REPO,
    ServiceConfig,
    ServiceProcess,
    create_migrated_database,
    create_topic,
    wait_until,
)


def run_load(api: ServiceProcess, *args: str, log_dir: Path) -> dict[str, Any]:
    """Run ``python -m bench.load`` as its own process against ``api``; returns its summary."""
    env = dict(os.environ, BENCH_API_KEY=api.config.api_key,
               PYTHONPATH=os.pathsep.join([str(REPO / "service"), str(REPO)]))
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "load.log", "ab") as errors:
        out = subprocess.run([sys.executable, "-m", "bench.load", "--url", api.url, *args], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=errors, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"load process failed ({out.returncode}); see {log_dir / 'load.log'}")
    summary: dict[str, Any] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return summary


def _count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM logs").fetchone()
    return int(row[0]) if row else 0


def _wait_stored(dsn: str, total: int, *, timeout: float) -> bool:
    """Wait until ``total`` records are stored, polling cheaply so the harness does not compete
    with the consumer for PostgreSQL: one connection, and the counts table (kept equal to the
    stored rows in the insert transaction) instead of count(*) over the logs."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        def stored() -> bool:
            row = conn.execute("SELECT coalesce(sum(count), 0) FROM log_counts_15m").fetchone()
            return bool(row and row[0] >= total)
        return wait_until(stored, timeout=timeout, interval=0.05)


def measure_accept(server_dsn: str, bootstrap: str, log_dir: Path, *, seconds: float,
                   concurrency: int, profile_dir: Path | None = None) -> dict[str, Any]:
    """202s/s × batch on one API worker, no consumer running (the HTTP + Kafka accept path alone)."""
    dsn = create_migrated_database(server_dsn, "bench_accept")
    config = ServiceConfig(dsn, bootstrap, create_topic(bootstrap))
    with ServiceProcess("api", config, log_dir) as api:
        profiler = Profiler({"api": api.pid}, profile_dir, "accept") if profile_dir else None
        summary = run_load(api, "--batches", "1000000", "--unique", "40", "--duration", str(seconds),
                           "--concurrency", str(concurrency), "--tag", "accept", log_dir=log_dir)
        profiles = profiler.stop() if profiler else {}
        rss = api.rss_bytes()
    non_202 = {k: v for k, v in summary["statuses"].items() if k != "202"}
    return {"accept_rows_per_s": summary["accept_rows_per_s"], "batch_size": summary["batch_size"],
            "concurrency": concurrency, "seconds": summary["elapsed_s"], "latency_ms": summary["latency_ms"],
            "non_202": non_202, "api_rss_mb": round(rss / 2**20, 1), "profiles": profiles}


@contextlib.contextmanager
def _pipeline(config: ServiceConfig, log_dir: Path, consumers: int) -> Iterator[tuple[ServiceProcess, list[ServiceProcess]]]:
    """One API process and ``consumers`` consumer processes (one consumer group)."""
    with contextlib.ExitStack() as stack:
        api = stack.enter_context(ServiceProcess("api", config, log_dir))
        yield api, [stack.enter_context(ServiceProcess("consumer", config, log_dir)) for _ in range(consumers)]


def _lag(consumers: list[ServiceProcess]) -> float:
    return sum(c.metric_sum("logagg_consumer_lag") or 0.0 for c in consumers)


def measure_e2e(server_dsn: str, bootstrap: str, log_dir: Path, *, batches: int, concurrency: int,
                server_pids: dict[str, int], consumers: int = 1, profile_dir: Path | None = None) -> dict[str, Any]:
    """Records/s from the first POST until the last record is stored and found by GET /v1/logs.

    Also reports the CPU seconds each process (tree) used from the first POST until the last
    record was stored: ``server_pids`` names the PostgreSQL and Kafka servers; ``load`` is the
    load process while sending (its bodies are built before the clock starts). Their sum against
    wall time x cores shows whether the machine was saturated.
    """
    dsn = create_migrated_database(server_dsn, "bench_e2e")
    config = ServiceConfig(dsn, bootstrap, create_topic(bootstrap, partitions=consumers))
    with _pipeline(config, log_dir, consumers) as (api, workers):
        profiler = Profiler({"api": api.pid, "consumer": workers[0].pid}, profile_dir, "e2e") if profile_dir else None
        meter = CpuMeter({"api": api.pid, **{f"consumer{i or ''}": w.pid for i, w in enumerate(workers)},
                          **server_pids})
        summary = run_load(api, "--batches", str(batches), "--concurrency", str(concurrency), "--tag", "e2e",
                           log_dir=log_dir)
        total = summary["acked_records"]
        if not _wait_stored(dsn, total, timeout=600):
            raise RuntimeError(f"only {_count(dsn)} of {total} records stored after 10 minutes")
        stored_at = time.time()
        cpu = meter.stop(load=summary["cpu_s_sending"])
        profiles = profiler.stop() if profiler else {}
        # The last batch's last record must be answerable through the query API.
        key = f"e2e:{batches - 1}:499"
        with httpx.Client(base_url=api.url, timeout=30,
                          headers={"Authorization": f"Bearer {config.api_key}"}) as client:
            found = client.get("/v1/logs", params={"attr.bench_key": key, "since": "1h"}).json()["items"]
        queryable_at = time.time()
        if len(found) != 1:
            raise RuntimeError(f"record {key} not queryable after it was stored: {found}")
        elapsed = queryable_at - summary["first_send"]
        lag = _lag(workers)
    stored = _count(dsn)
    return {
        "e2e_rows_per_s": round(total / elapsed, 1), "records": total, "stored": stored, "consumers": consumers,
        "seconds": round(elapsed, 2), "accept_phase_s": summary["elapsed_s"],
        "drain_after_last_ack_s": round(stored_at - summary["last_ack"], 2),
        "non_202": {k: v for k, v in summary["statuses"].items() if k != "202"},
        "consumer_lag_at_end": lag, "cpu_seconds": cpu,
        # the servers idle while the load process builds its bodies, so the run's own span counts
        "cpu_busy_pct": round(100 * cpu["total"] / (elapsed * (os.cpu_count() or 1)), 1),
        "profiles": profiles,
    }


def measure_soak(server_dsn: str, bootstrap: str, log_dir: Path, *, seconds: float, rows_per_s: float,
                 concurrency: int = 4, consumers: int = 1, drain_timeout: float = 900) -> dict[str, Any]:
    """Steady load at ``rows_per_s`` for ``seconds``: errors, RSS growth of API and consumers, and
    how long the consumer lag takes to return to zero afterwards (up to ``drain_timeout``)."""
    dsn = create_migrated_database(server_dsn, "bench_soak")
    config = ServiceConfig(dsn, bootstrap, create_topic(bootstrap, partitions=consumers))
    rate = rows_per_s / 500
    with _pipeline(config, log_dir, consumers) as (api, workers):
        env = dict(os.environ, BENCH_API_KEY=config.api_key,
                   PYTHONPATH=os.pathsep.join([str(REPO / "service"), str(REPO)]))
        batches = int(seconds * rate) + 1
        load = subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--url", api.url, "--batches", str(batches), "--unique", "200",
             "--rate", f"{rate:.3f}", "--duration", str(seconds), "--concurrency", str(concurrency), "--tag", "soak"],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        samples: list[dict[str, float]] = []
        while load.poll() is None:
            samples.append({"t": time.time(), "api_rss": api.rss_bytes(),
                            "consumer_rss": sum(w.rss_bytes() for w in workers), "lag": _lag(workers)})
            time.sleep(5)
        summary = json.loads((load.stdout.read() if load.stdout else b"{}").decode().strip().splitlines()[-1])
        total = summary["acked_records"]
        load_ended = time.time()
        drained = _wait_stored(dsn, total, timeout=drain_timeout)
        drain_s = time.time() - load_ended
        lag_zero = wait_until(lambda: _lag(workers) == 0.0, timeout=60)
        stored = _count(dsn)
    # Growth is measured from the first sample after warm-up (20 % into the run) to the last sample.
    warm = samples[max(0, len(samples) // 5)] if samples else {}
    last = samples[-1] if samples else {}

    def growth(key: str) -> float | None:
        return round((last[key] - warm[key]) / warm[key] * 100, 1) if warm and warm[key] else None

    return {
        "seconds": seconds, "consumers": consumers, "target_rows_per_s": round(rows_per_s, 1),
        "achieved_rows_per_s": summary["accept_rows_per_s"], "acked_records": total, "stored": stored,
        "errors": {k: v for k, v in summary["statuses"].items() if k != "202"},
        "api_rss_growth_pct": growth("api_rss"), "consumer_rss_growth_pct": growth("consumer_rss"),
        "max_lag": max((s["lag"] for s in samples), default=0.0), "lag_at_load_end": last.get("lag"),
        "drain_after_load_s": round(drain_s, 1), "lag_returned_to_zero": drained and lag_zero,
    }
