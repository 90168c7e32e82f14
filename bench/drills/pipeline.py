"""The running pipeline a drill disturbs: API and consumer processes, load runs, settling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.drills.checker import DrillResult, check, read_journal, stored_counts
from bench.stack import REPO, ServiceConfig, ServiceProcess


@dataclass(frozen=True)
class Budget:
    """How hard a drill pushes: load size and how many disruptions."""

    name: str
    batches: int
    batch_size: int
    rate: float  # batches per second
    repeats: int  # disruptions per drill
    outage_s: float

    @classmethod
    def from_env(cls) -> Budget:
        """``DRILLS_BUDGET=full`` (make drills) or quick (make test)."""
        return FULL if os.environ.get("DRILLS_BUDGET", "quick") == "full" else QUICK


# Outages outlast the drills' 5 s produce timeout (tests/drills/conftest.py): a shorter one can be
# ridden out by requests that simply wait for the broker, and then no 503 is ever seen.
QUICK = Budget("quick", batches=24, batch_size=100, rate=6.0, repeats=1, outage_s=6.0)
FULL = Budget("full", batches=300, batch_size=200, rate=10.0, repeats=3, outage_s=8.0)


class LoadRun:
    """A ``python -m bench.load`` process sending one drill's records (retrying what was not accepted)."""

    def __init__(self, pipeline: Pipeline, tag: str, budget: Budget, *, ids: str = "mixed", copies: int = 1,
                 retry_for: float = 180, concurrency: int = 3) -> None:
        self.tag = tag
        self.copies = copies
        pipeline.loads.append(self)
        self.journal = pipeline.log_dir / f"journal-{tag}.jsonl"
        env = dict(os.environ, BENCH_API_KEY=pipeline.config.api_key,
                   PYTHONPATH=os.pathsep.join([str(REPO / "service"), str(REPO)]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--url", pipeline.api.url, "--batches", str(budget.batches),
             "--batch-size", str(budget.batch_size), "--rate", str(budget.rate), "--concurrency", str(concurrency),
             "--ids", ids, "--copies", str(copies), "--retry-for", str(retry_for), "--tag", tag,
             "--seed", str(zlib.crc32(tag.encode()) % 10_000), "--journal", str(self.journal)],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=(pipeline.log_dir / f"load-{tag}.log").open("ab"),
        )

    def attempts(self) -> int:
        """Attempts journaled so far."""
        try:
            return sum(1 for _ in self.journal.open())
        except FileNotFoundError:
            return 0

    def acked_batches(self) -> int:
        """Batches answered 202 so far."""
        try:
            return sum(1 for line in self.journal.open() if '"status": 202' in line)
        except FileNotFoundError:
            return 0

    def wait_acked(self, batches: int, timeout: float = 120) -> bool:
        """Block until ``batches`` batches were accepted (the disruption then hits a pipeline in motion).

        False when that does not happen within ``timeout`` (the pipeline stopped accepting): the drill
        then skips its remaining disruptions and the verdict reports the unaccepted batches.
        """
        deadline = time.monotonic() + timeout
        while self.acked_batches() < batches:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def finish(self, timeout: float = 600) -> dict[str, Any]:
        """Wait for the load process to end; returns its summary."""
        out, _ = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"load {self.tag} exited with {self.proc.returncode}")
        summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return summary


class Pipeline:
    """API + consumer over one database and topic, restartable in place."""

    def __init__(self, config: ServiceConfig, dsn: str, log_dir: Path) -> None:
        self.config, self.dsn, self.log_dir = config, dsn, log_dir
        self.api = ServiceProcess("api", config, log_dir)
        self.consumer = ServiceProcess("consumer", config, log_dir)
        self.loads: list[LoadRun] = []

    def _kill_loads(self) -> None:
        """Stop load processes a failed drill left behind."""
        for run in self.loads:
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait()
        self.loads.clear()

    def start(self) -> Pipeline:
        """Start both processes."""
        self.api.start(wait=False)
        self.consumer.start(wait=False)
        self.api.wait_ready()
        self.consumer.wait_ready()
        return self

    def stop(self) -> None:
        """Stop both processes (and any leftover load)."""
        self._kill_loads()
        self.api.stop()
        self.consumer.stop()

    def replace_consumer(self, **env: str) -> ServiceProcess:
        """Stop the current consumer and start a new one (``env`` e.g. the crash hook)."""
        self.consumer.stop()
        self.consumer = ServiceProcess("consumer", self.config, self.log_dir, **env)
        self.consumer.start(wait=False)
        return self.consumer

    def ensure_running(self) -> list[str]:
        """Bring back whichever process a failed drill left stopped or unable to accept; returns what was done."""
        done = []
        self._kill_loads()
        if not self.api.alive():
            self.api.start()
            done.append("api started")
        if not self.accepts():
            self.api.stop()
            self.api.start()
            done.append("api restarted: it did not accept a probe batch")
        if not self.consumer.alive():
            self.replace_consumer().wait_ready()
            done.append("consumer started")
        return done

    def accepts(self, timeout: float = 20) -> bool:
        """True when the API answers 202 to a one-record probe within ``timeout`` (records without a bench key)."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.api.url, timeout=15,
                          headers={"Authorization": f"Bearer {self.config.api_key}"}) as client:
            while time.monotonic() < deadline:
                try:
                    if client.post("/v1/logs", json=[{"service": "drill-probe", "message": "probe"}]).status_code == 202:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(1)
        return False

    def new_tag(self, name: str) -> str:
        """A key prefix no other drill uses."""
        return f"{name}-{uuid.uuid4().hex[:6]}"

    def settle(self, run: LoadRun, timeout: float = 180) -> None:
        """Wait until every acked record is stored, the consumer lag is zero and the row count is stable."""
        deadline = time.monotonic() + timeout
        acked = set(read_journal(run.journal, run.tag).acked)
        while time.monotonic() < deadline:
            stored = stored_counts(self.dsn, run.tag)
            if all(stored[k] for k in acked):
                break
            time.sleep(0.5)
        previous = -1
        while time.monotonic() < deadline:
            total = sum(stored_counts(self.dsn, run.tag).values())
            lag = self.consumer.metric_sum("logagg_consumer_lag")
            if lag == 0 and total == previous:
                return
            previous = total
            time.sleep(1.0)

    def result(self, name: str, run: LoadRun, **notes: object) -> DrillResult:
        """Settle, then check the drill's records."""
        summary = run.finish()
        self.settle(run)
        # Every batch (every copy) must end up accepted: the pipeline recovered from the disruption.
        unacked = summary["batches_sent"] * run.copies - summary["acked_batches"]
        return check(name, run.tag, run.journal, self.dsn, unacked_batches=unacked, **notes)

    def dead_letters(self, topic: str) -> list[tuple[int, int, str]]:
        """(partition, offset, reason) of the dead letters of ``topic``."""
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute('SELECT "partition", "offset", reason FROM dead_letters WHERE topic = %s'
                                ' ORDER BY 1, 2', (topic,)).fetchall()
        return [(int(p), int(o), str(r)) for p, o, r in rows]
