"""Backup and restore-verification runs (written by ``logagg backup``; read for the health gauges)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection


@dataclass(frozen=True, slots=True)
class BackupStatus:
    """What the backup gauges export; None where no such run exists yet."""

    last_backup_success: datetime | None
    last_verify_success: datetime | None
    last_verify_ok: bool | None


def backup_status(conn: Connection[Any]) -> BackupStatus:
    """Latest successful backup and verification, and whether the latest finished verification passed."""
    row = conn.execute(
        """
        SELECT
          (SELECT max(finished_at) FROM backup_runs WHERE kind = 'backup' AND ok),
          (SELECT max(finished_at) FROM backup_runs WHERE kind = 'verify' AND ok),
          (SELECT ok FROM backup_runs WHERE kind = 'verify' AND finished_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT 1)
        """
    ).fetchone()
    assert row is not None  # a SELECT without FROM always returns one row
    return BackupStatus(row[0], row[1], row[2])
