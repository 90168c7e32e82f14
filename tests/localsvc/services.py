"""Starting several servers at once, and the persistent pair behind `up`/`down`/`dev`."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.localsvc import processes
from tests.localsvc.kafka import KafkaBroker
from tests.localsvc.postgres import PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = REPO_ROOT / ".local"
STATE_FILE = STATE_DIR / "services.json"
PREFERRED_PORTS = {"postgres": 5432, "kafka": 9092, "kafka_controller": 9093}


class Startable(Protocol):
    """The three startup phases both server classes expose."""

    def prepare(self) -> None: ...
    def launch(self) -> None: ...
    def wait_ready(self) -> None: ...


def start_concurrently(*servers: Startable) -> None:
    """Start servers in parallel: slow preparation and readiness waits overlap.

    Only `launch()` runs on the calling thread, because ephemeral children die with the thread that
    spawned them (PR_SET_PDEATHSIG) and worker threads end when the pool closes.
    """
    with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
        preparing = {pool.submit(server.prepare): server for server in servers}
        waiting = []
        for future in as_completed(preparing):  # launch each as soon as it is prepared
            future.result()
            server = preparing[future]
            server.launch()
            waiting.append(pool.submit(server.wait_ready))
        for future in waiting:
            future.result()


@dataclass
class LocalServices:
    """The persistent PostgreSQL + Kafka under .local/ (ports chosen once, then remembered)."""

    postgres: PostgresServer
    kafka: KafkaBroker

    @classmethod
    def load(cls) -> LocalServices:
        """Objects for the servers in .local/, choosing and saving ports on first use."""
        STATE_DIR.mkdir(exist_ok=True)
        ports = json.loads(STATE_FILE.read_text()) if STATE_FILE.exists() else {}
        if not ports:
            for name, preferred in PREFERRED_PORTS.items():
                taken = set(ports.values())
                port = (
                    preferred
                    if processes.port_is_free(preferred)
                    else processes.free_port()
                )
                while port in taken:
                    port = processes.free_port()
                ports[name] = port
            STATE_FILE.write_text(json.dumps(ports, indent=2) + "\n")
        return cls(
            postgres=PostgresServer(
                STATE_DIR / "postgres", ports["postgres"], persistent=True, durable=True
            ),
            kafka=KafkaBroker(
                STATE_DIR / "kafka",
                ports["kafka"],
                ports["kafka_controller"],
                persistent=True,
            ),
        )

    def up(self) -> list[str]:
        """Start whatever is not running; returns the names of the servers this call started."""
        to_start = [s for s in (self.postgres, self.kafka) if not s.is_running()]
        start_concurrently(*to_start)
        # Already-running ones still get the readiness check (and PG its role/database bootstrap).
        for server in (self.postgres, self.kafka):
            if server not in to_start:
                server.wait_ready()
        return [type(s).__name__ for s in to_start]

    def down(self) -> None:
        """Stop both (data stays in .local/)."""
        self.kafka.stop()
        self.postgres.stop()

    def exports(self) -> str:
        """Shell lines pointing clients at these servers."""
        return (
            f"export DATABASE_URL={self.postgres.dsn}\n"
            f"export KAFKA_BOOTSTRAP_SERVERS={self.kafka.bootstrap}"
        )
