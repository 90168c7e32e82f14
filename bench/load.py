"""The load process: POST /v1/logs in batches from its own process (``python -m bench.load``).

It pre-builds every request body (so generation does not count against the service), then sends
them with N client threads, optionally at a fixed rate and retrying what was not accepted. Every
attempt can be written to a journal (JSON lines) that the drill checker reads: which batch, which
attempt, which status. Record keys are derivable: record ``i`` of batch ``b`` carries
``attributes.bench_key = "<tag>:<b>:<i>"`` and, when the batch uses client ids, ``id = "<tag>-<b>-<i>"``.

The summary (one JSON object) goes to stdout. The API key comes from ``BENCH_API_KEY``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx

from bench.datagen import RecordGenerator, to_api

#: Statuses after which the same body is sent again (the service promised nothing was accepted).
RETRYABLE = {429, 502, 503, 504}
TRANSPORT_ERROR = 0


@dataclass(frozen=True)
class Plan:
    """What to send."""

    batches: int
    batch_size: int
    tag: str
    ids: str  # "none", "all" or "mixed" (even batches carry client ids)
    seed: int

    def batch_has_ids(self, b: int) -> bool:
        """Whether batch ``b`` carries client ids."""
        return self.ids == "all" or (self.ids == "mixed" and b % 2 == 0)


def build_bodies(plan: Plan, unique: int) -> list[bytes]:
    """``unique`` distinct JSON bodies (cycled when more batches are sent) with records of the last 10 min."""
    now = datetime.now(UTC)
    gen = RecordGenerator(plan.seed)
    bodies = []
    records = gen.records(unique * plan.batch_size, now - timedelta(minutes=10), now)
    for b in range(unique):
        items = []
        for i in range(plan.batch_size):
            item = to_api(next(records), with_id=False)
            item["attributes"]["bench_key"] = f"{plan.tag}:{b}:{i}"
            if plan.batch_has_ids(b):
                item["id"] = f"{plan.tag}-{b}-{i}"
            items.append(item)
        bodies.append(json.dumps(items, separators=(",", ":")).encode())
    return bodies


class Sender:
    """Client threads sharing a batch counter, a rate limit and the journal."""

    def __init__(self, args: argparse.Namespace, plan: Plan, bodies: list[bytes], journal: IO[str] | None) -> None:
        self.args, self.plan, self.bodies, self.journal = args, plan, bodies, journal
        self.lock = threading.Lock()
        self.next_batch = 0
        self.statuses: Counter[int] = Counter()
        self.acked_records = 0
        self.acked_batches = 0
        self.latencies: list[float] = []
        self.first_send = 0.0
        self.last_ack = 0.0
        self.stop_at = float("inf")
        self.retry_deadline = 0.0
        self.started = time.monotonic()

    def _claim(self) -> int | None:
        with self.lock:
            b = self.next_batch
            if b >= self.args.batches or time.time() >= self.stop_at:
                return None
            self.next_batch += 1
        if self.args.rate > 0:  # open-loop pacing: batch b is due at start + b / rate
            delay = self.started + b / self.args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return b

    def _post(self, client: httpx.Client, b: int, attempt: int) -> tuple[int, float]:
        body = self.bodies[b % len(self.bodies)]
        t0 = time.monotonic()
        error = None
        try:
            response = client.post("/v1/logs", content=body, headers={"Content-Type": "application/json"})
            status, retry_after = response.status_code, float(response.headers.get("retry-after", "0") or 0)
        except httpx.HTTPError as exc:
            status, retry_after, error = TRANSPORT_ERROR, 0.5, type(exc).__name__
        now = time.time()
        with self.lock:
            self.statuses[status] += 1
            if status == 202:
                self.acked_batches += 1
                self.acked_records += self.plan.batch_size
                self.latencies.append(time.monotonic() - t0)
                self.last_ack = max(self.last_ack, now)
            if self.journal is not None:
                self.journal.write(json.dumps({
                    "batch": b % len(self.bodies), "attempt": attempt, "status": status,
                    "n": self.plan.batch_size, "ids": self.plan.batch_has_ids(b % len(self.bodies)), "t": now,
                    "ms": round((time.monotonic() - t0) * 1000), **({"error": error} if error else {}),
                }) + "\n")
        return status, retry_after

    def worker(self) -> None:
        with httpx.Client(base_url=self.args.url, timeout=60,
                          headers={"Authorization": f"Bearer {os.environ['BENCH_API_KEY']}"}) as client:
            while (b := self._claim()) is not None:
                for copy in range(self.args.copies):
                    attempt = 0
                    while True:
                        status, retry_after = self._post(client, b, attempt + copy * 1000)
                        retryable = status in RETRYABLE or status == TRANSPORT_ERROR
                        if not retryable or time.time() >= self.retry_deadline:
                            break
                        attempt += 1
                        time.sleep(min(max(retry_after, 0.2), 1.0))

    def run(self) -> dict[str, Any]:
        cpu_at_start = time.process_time()
        self.started = time.monotonic()
        self.first_send = time.time()
        if self.args.duration > 0:
            self.stop_at = self.first_send + self.args.duration
        self.retry_deadline = self.first_send + self.args.retry_for
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - self.first_send
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

        return {
            "tag": self.plan.tag, "batch_size": self.plan.batch_size, "batches_sent": self.next_batch,
            "acked_batches": self.acked_batches, "acked_records": self.acked_records,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "first_send": self.first_send, "last_ack": self.last_ack, "elapsed_s": round(elapsed, 3),
            "accept_rows_per_s": round(self.acked_records / elapsed, 1) if elapsed > 0 else None,
            "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)},
            "cpu_s_sending": round(time.process_time() - cpu_at_start, 2),
        }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of the load process."""
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True, help="API base URL")
    p.add_argument("--batches", type=int, default=100, help="batches to send (upper bound with --duration)")
    p.add_argument("--unique", type=int, default=0, help="distinct bodies to build (default: --batches)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--duration", type=float, default=0, help="stop starting batches after this many seconds")
    p.add_argument("--rate", type=float, default=0, help="batches per second (0: as fast as possible)")
    p.add_argument("--retry-for", type=float, default=0, help="resend 429/5xx/transport errors for this long")
    p.add_argument("--copies", type=int, default=1, help="send each batch this many times (client resends)")
    p.add_argument("--ids", choices=("none", "all", "mixed"), default="none")
    p.add_argument("--tag", default="bench")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--journal", type=Path, help="write every attempt here (JSON lines)")
    p.add_argument("--ready-file", type=Path, help="touched once the bodies are built")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build bodies, send them, print the summary."""
    args = parse_args(argv)
    unique = args.unique or args.batches
    plan = Plan(batches=args.batches, batch_size=args.batch_size, tag=args.tag, ids=args.ids, seed=args.seed)
    bodies = build_bodies(plan, min(unique, args.batches))
    if args.ready_file:
        args.ready_file.touch()
    journal = args.journal.open("w", buffering=1) if args.journal else None
    try:
        summary = Sender(args, plan, bodies, journal).run()
    finally:
        if journal is not None:
            journal.close()
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
