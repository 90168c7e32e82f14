"""Schema migrations: apply, roll back and list the versioned SQL in ``migrations/`` with yoyo.

The migrations directory is ``$LOGAGG_MIGRATIONS_DIR`` when set, else the repository's
``migrations/`` (running from a checkout), else ``/app/migrations`` (the container image).
yoyo's lock table serialises concurrent runs (e.g. two pods starting ``logagg migrate`` at once).

CLI: ``python -m logagg.migrate [apply | rollback [--steps N | --all] | list] [--database-url DSN]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, urlencode

from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend, read_migrations  # type: ignore[import-untyped]
from yoyo.backends.base import DatabaseBackend  # type: ignore[import-untyped]
from yoyo.migrations import MigrationList  # type: ignore[import-untyped]

_CANDIDATE_DIRS = (
    Path(__file__).resolve().parents[2] / "migrations",
    Path("/app/migrations"),
)


def migrations_dir() -> Path:
    """Locate the directory with the ``NNNN_name.sql`` files."""
    env = os.environ.get("LOGAGG_MIGRATIONS_DIR")
    if env:
        return Path(env)
    for candidate in _CANDIDATE_DIRS:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no migrations directory found; set LOGAGG_MIGRATIONS_DIR")


def yoyo_uri(dsn: str) -> str:
    """Turn a libpq DSN (URL or ``key=value`` form) into a yoyo URI using the psycopg 3 backend."""
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    user = quote(params.pop("user", ""), safe="")
    password = params.pop("password", None)
    host = params.pop("host", "")
    port = params.pop("port", None)
    dbname = quote(params.pop("dbname", ""), safe="")
    auth = f"{user}:{quote(password, safe='')}@" if password is not None else (f"{user}@" if user else "")
    # A socket directory (host starting with '/') cannot sit in the netloc; pass it as a parameter.
    if host.startswith("/"):
        params["host"] = host
        host = ""
    netloc = f"{auth}{host}{':' + port if port else ''}"
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql+psycopg://{netloc}/{dbname}{query}"


def _open(dsn: str) -> tuple[DatabaseBackend, MigrationList]:
    return get_backend(yoyo_uri(dsn)), read_migrations(str(migrations_dir()))


def apply(dsn: str) -> list[str]:
    """Apply every pending migration in order; returns the ids applied."""
    backend, migrations = _open(dsn)
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]


def rollback(dsn: str, steps: int | None = 1) -> list[str]:
    """Roll back the last ``steps`` applied migrations (all when ``steps`` is None)."""
    backend, migrations = _open(dsn)
    with backend.lock():
        applied = backend.to_rollback(migrations)
        chosen = applied if steps is None else applied[:steps]
        backend.rollback_migrations(chosen)
    return [m.id for m in chosen]


def status(dsn: str) -> list[tuple[str, bool]]:
    """Every known migration id with whether it is applied."""
    backend, migrations = _open(dsn)
    return [(m.id, backend.is_applied(m)) for m in migrations]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; the DSN defaults to the service settings."""
    parser = argparse.ArgumentParser(prog="logagg migrate", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="apply", choices=("apply", "rollback", "list"))
    parser.add_argument("--steps", type=int, default=1, help="migrations to roll back (default 1)")
    parser.add_argument("--all", action="store_true", help="roll back every migration")
    parser.add_argument("--database-url", help="DSN (default: LOGAGG_DATABASE_URL)")
    args = parser.parse_args(argv)
    dsn = args.database_url
    if not dsn:
        from logagg.settings import get_settings

        dsn = get_settings().database_dsn()
    if args.command == "apply":
        done = apply(dsn)
        print(f"applied {len(done)} migration(s): {', '.join(done) or '-'}")
    elif args.command == "rollback":
        done = rollback(dsn, None if args.all else args.steps)
        print(f"rolled back {len(done)} migration(s): {', '.join(done) or '-'}")
    else:
        for mid, applied in status(dsn):
            print(f"{'applied' if applied else 'pending'}\t{mid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
