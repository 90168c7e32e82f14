"""Running the PostgreSQL client programs (pg_dump, pg_restore) without leaking the password."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

_DEBIAN_BIN_ROOT = Path("/usr/lib/postgresql")


class ClientToolError(RuntimeError):
    """A PostgreSQL client program is missing, too old, or failed."""


def find_tool(name: str, bin_dir: str | None = None) -> str:
    """Path of `pg_dump`/`pg_restore`: `bin_dir`, else PATH, else the newest Debian install."""
    if bin_dir:
        candidate = Path(bin_dir) / name
        if not os.access(candidate, os.X_OK):
            raise ClientToolError(f"{name} not found in LOGAGG_BACKUP_PG_BIN_DIR={bin_dir}")
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(
        (p for p in _DEBIAN_BIN_ROOT.glob("*/bin") if (p / name).exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return str(versions[-1] / name)
    raise ClientToolError(f"{name} not found: install postgresql-client (major >= the server's)")


def tool_version(path: str) -> tuple[str, int]:
    """The `--version` text of a client program and its major version."""
    text = subprocess.run(
        [path, "--version"], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()
    match = re.search(r"\b(\d+)(?:\.\d+)?", text)
    if not match:
        raise ClientToolError(f"cannot parse version of {path}: {text!r}")
    return text, int(match.group(1))


def require_compatible(path: str, server_version_num: int) -> str:
    """Refuse a client older than the server (pg_dump cannot dump a newer major version)."""
    text, major = tool_version(path)
    server_major = server_version_num // 10000
    if major < server_major:
        raise ClientToolError(
            f"{text} is older than the server (PostgreSQL {server_major}); "
            f"install postgresql-client-{server_major} or newer"
        )
    return text


def libpq_args(dsn: str) -> tuple[str, dict[str, str]]:
    """A `--dbname` conninfo without the password, and an environment carrying it.

    Command lines are visible to every process on the host (/proc/*/cmdline); the environment
    of a child is not.
    """
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    return make_conninfo(**params), env


def database_name(dsn: str) -> str:
    """The database a DSN names (libpq defaults to the user name)."""
    params = conninfo_to_dict(dsn)
    return str(params.get("dbname") or params.get("user") or os.environ.get("PGDATABASE", ""))


def with_database(dsn: str, dbname: str) -> str:
    """The same connection parameters pointing at another database."""
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    params["dbname"] = dbname
    return make_conninfo(**params)
