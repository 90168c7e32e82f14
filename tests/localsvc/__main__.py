"""`python -m tests.localsvc sysdeps|up|down|status|dev` (the Makefile's entry points)."""

from __future__ import annotations

import argparse
import sys
import time

from tests.localsvc import dev, sysdeps
from tests.localsvc.services import LocalServices


def _up() -> int:
    local = LocalServices.load()
    began = time.monotonic()
    started = local.up()
    took = (
        f" (started {', '.join(started)} in {time.monotonic() - began:.1f}s)"
        if started
        else " (already running)"
    )
    print(
        f"# local services are up{took}; data in .local/, stop with `make services-down`",
        file=sys.stderr,
    )
    print(local.exports())
    return 0


def _down() -> int:
    LocalServices.load().down()
    print("local PostgreSQL and Kafka stopped (data kept in .local/)", file=sys.stderr)
    return 0


def _status() -> int:
    local = LocalServices.load()
    for name, server, address in (
        ("postgres", local.postgres, local.postgres.dsn),
        ("kafka", local.kafka, local.kafka.bootstrap),
    ):
        pid = server.pid()
        print(
            f"{name:9} {'running pid ' + str(pid) if pid else 'stopped':18} {address}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch the subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.localsvc", description=__doc__
    )
    parser.add_argument("command", choices=["sysdeps", "up", "down", "status", "dev"])
    command = parser.parse_args(argv).command
    if command == "sysdeps":
        sysdeps.ensure()
        return 0
    return {"up": _up, "down": _down, "status": _status, "dev": dev.run}[command]()


if __name__ == "__main__":
    sys.exit(main())
