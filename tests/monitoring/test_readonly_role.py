"""The read-only role on real PostgreSQL: the Grafana role Job's script creates it, Grafana's
logs-explorer SQL runs as it, and it can neither write nor read other tables."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from logagg import migrate
from psycopg import conninfo

from infra.components.grafana import role_job_script
from infra.monitoring import assets
from tests.localsvc import PostgresServer
from tests.monitoring.conftest import ROOT

LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture
def owner_dsn(pg_server: PostgresServer | None, fresh_database: str) -> str:
    """The migrated database, as the superuser (what the dev role Job connects as)."""
    if pg_server is None:
        pytest.skip("needs the local PostgreSQL's superuser (unset DATABASE_URL)")
    migrate.apply(fresh_database)
    name = urlsplit(fresh_database).path.lstrip("/")
    return conninfo.make_conninfo(pg_server.admin_dsn, dbname=name)


def _seed(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT logagg_ensure_partitions(%s, %s)",
                     ((NOW - timedelta(days=1)).date(), (NOW + timedelta(days=1)).date()))
        for i, (service, level, message) in enumerate([
            ("checkout", "error", "payment gateway timeout"),
            ("checkout", "info", "order placed"),
            ("search", "warn", "slow query on index"),
        ]):
            ts = NOW - timedelta(minutes=i)
            conn.execute("INSERT INTO logs (ts, id, service, level, message, attributes)"
                         " VALUES (%s, %s, %s, %s, %s, %s)",
                         (ts, f"id-{i}", service, level, message, json.dumps({"i": i})))
            conn.execute("INSERT INTO log_counts (minute, service, level, count) VALUES (%s, %s, %s, 1)",
                         (ts, service, level))


def _run_role_job(dsn: str, tmp_path: Path, password: str) -> subprocess.CompletedProcess[str]:
    """The Job's shell script, with its mounted files replaced by temporary ones."""
    (tmp_path / "dsn").write_text(dsn)
    (tmp_path / "password").write_text(password)
    script = role_job_script(True, sql_file=str(assets.READONLY_ROLE_SQL),
                             dsn_file=str(tmp_path / "dsn"), password_file=str(tmp_path / "password"))
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture
def readonly_dsn(owner_dsn: str, pg_server: PostgresServer, tmp_path: Path) -> Iterator[str]:
    _seed(owner_dsn)
    for _ in range(2):  # idempotent: the Job may run again on every `pulumi up`
        done = _run_role_job(owner_dsn, tmp_path, "ro-secret-pw")
        assert done.returncode == 0, done.stdout + done.stderr
    name = conninfo.conninfo_to_dict(owner_dsn)["dbname"]
    yield (f"postgresql://{assets.READONLY_ROLE}:ro-secret-pw@127.0.0.1:{pg_server.port}/{name}")


def _expand(sql: str, *, services: list[str], search: str) -> str:
    """Grafana's PostgreSQL macros and variables, expanded as Grafana does for this dashboard."""
    start, end = (NOW - timedelta(hours=1)).isoformat(), (NOW + timedelta(minutes=1)).isoformat()

    def quote(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    sql = sql.replace("$__timeGroupAlias(minute, $__interval)",
                      'floor(extract(epoch from minute)/60)*60 AS "time"')
    for column in ("minute", "ts"):
        sql = sql.replace(f"$__timeFilter({column})",
                          f"{column} BETWEEN {quote(start)} AND {quote(end)}")
    sql = sql.replace("$service", ",".join(quote(s) for s in services))
    sql = sql.replace("$level", ",".join(quote(v) for v in LEVELS))
    sql = sql.replace("${search:sqlstring}", quote(search))
    assert "$" not in sql, sql
    return sql


def _sql_targets() -> dict[str, str]:
    dashboard = json.loads((ROOT / "infra/monitoring/dashboards/logs-explorer.json").read_text())
    return {t["format"]: t["rawSql"] for p in dashboard["panels"] for t in p.get("targets", [])}


def _query(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def test_logs_explorer_queries_run_as_the_readonly_role(readonly_dsn: str) -> None:
    sql = _sql_targets()
    rows = _query(readonly_dsn, _expand(sql["table"], services=["checkout", "search"], search=""))
    assert [r[3] for r in rows] == ["payment gateway timeout", "order placed", "slow query on index"]
    rows = _query(readonly_dsn, _expand(sql["table"], services=["checkout"], search="Gateway TIMEOUT"))
    assert [r[3] for r in rows] == ["payment gateway timeout"]
    # a quote in the search box stays inside the literal (Grafana's :sqlstring format)
    injected = _expand(sql["table"], services=["checkout"], search="x' OR '1'='1")
    assert _query(readonly_dsn, injected) == []
    histogram = _query(readonly_dsn, _expand(sql["time_series"], services=["checkout"], search=""))
    assert sorted((r[1], r[2]) for r in histogram) == [("error", 1), ("info", 1)]


def test_readonly_role_cannot_write_or_read_other_tables(readonly_dsn: str) -> None:
    with psycopg.connect(readonly_dsn) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("INSERT INTO log_counts (minute, service, level, count) VALUES (now(), 'x', 'info', 1)")
    with psycopg.connect(readonly_dsn) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SET TRANSACTION READ WRITE")
        conn.execute("INSERT INTO log_counts (minute, service, level, count) VALUES (now(), 'x', 'info', 1)")
    for table in ("dead_letters", "backup_runs", "client_ids"):
        with psycopg.connect(readonly_dsn) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT 1 FROM {table} LIMIT 1")


def test_owner_without_createrole_only_grants(
        fresh_database: str, pg_server: PostgresServer | None) -> None:
    """CloudNativePG: the operator created the role (managed.roles); the owner, who may not create
    roles, runs the script and it grants SELECT on the log tables."""
    if pg_server is None:
        pytest.skip("needs the local PostgreSQL's superuser (unset DATABASE_URL)")
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                            (assets.READONLY_ROLE,)).fetchone():
            conn.execute(f"CREATE ROLE {assets.READONLY_ROLE} LOGIN")
    migrate.apply(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        can_create = conn.execute(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user").fetchone()
    assert can_create == (False,), "the application DSN must be a plain owner for this test"
    done = subprocess.run(["psql", fresh_database, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                           str(assets.READONLY_ROLE_SQL)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(fresh_database) as conn:
        granted = conn.execute(
            "SELECT has_table_privilege(%s, 'logs', 'SELECT'), has_table_privilege(%s, 'log_counts', 'SELECT'),"
            " has_table_privilege(%s, 'dead_letters', 'SELECT')",
            (assets.READONLY_ROLE,) * 3).fetchone()
    assert granted == (True, True, False)
