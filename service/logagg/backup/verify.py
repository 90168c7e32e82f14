"""`backup verify`: restore a backup into a scratch database and check it against manifest and source."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import catalog
from .manifest import Manifest
from .pgtools import find_tool, with_database
from .restore import content_problems, feed_pg_restore, integrity_problems
from .run import utcnow
from .storage import BackupBucket

log = logging.getLogger(__name__)


@dataclass
class VerifyResult:
    """Outcome of one verification; `problems` empty means the backup is good."""

    backup_id: str | None
    problems: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems


def latest_manifest(bucket: BackupBucket) -> Manifest:
    """The newest complete backup's manifest; LookupError when the bucket has none."""
    ids = bucket.backup_ids()
    if not ids:
        raise LookupError(f"no backups in s3://{bucket.location.bucket}/{bucket.prefix}")
    return bucket.get_manifest(ids[-1])


def scratch_database_name(backup_id: str) -> str:
    """A unique, recognisable name for the throw-away database (well under 63 bytes)."""
    return f"logagg_verify_{backup_id.lower()}_{secrets.token_hex(3)}"


def verify_backup(
    source_dsn: str,
    bucket: BackupBucket,
    *,
    backup_id: str | None = None,
    rpo: timedelta = timedelta(hours=26),
    scratch_admin_dsn: str | None = None,
    pg_bin_dir: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> VerifyResult:
    """Verify one backup (default: the latest) end to end.

    1. the stored dump's size equals the manifest's (cheap truncation check, no download);
    2. the dump is streamed into a fresh scratch database while its SHA-256 is computed;
    3. the scratch database's row counts and newest log time equal the manifest's;
    4. for the latest backup: it is younger than the RPO and the source's newest log is at most
       the RPO newer than the backup's.
    The scratch database is always dropped.
    """
    manifest = bucket.get_manifest(backup_id) if backup_id else latest_manifest(bucket)
    result = VerifyResult(manifest.backup_id)
    result.details.update(
        backup_id=manifest.backup_id,
        size_bytes=manifest.size_bytes,
        manifest_newest_log_ts=manifest.newest_log_ts,
    )
    stored_size = bucket.object_size(manifest.dump_key)
    if stored_size != manifest.size_bytes:
        result.problems += integrity_problems(manifest, stored_size, manifest.sha256)
        return result

    pg_restore = find_tool("pg_restore", pg_bin_dir)
    admin_dsn = scratch_admin_dsn or source_dsn
    scratch = scratch_database_name(manifest.backup_id)
    result.details["scratch_database"] = scratch
    catalog.create_database(admin_dsn, scratch)
    try:
        scratch_dsn = with_database(admin_dsn, scratch)
        fed = feed_pg_restore(
            bucket.iter_object(manifest.dump_key), scratch_dsn, pg_restore=pg_restore
        )
        result.problems += integrity_problems(manifest, fed.size_bytes, fed.sha256)
        if fed.returncode != 0:
            result.problems.append(f"pg_restore exited with {fed.returncode}: {fed.stderr}")
        else:
            restored = catalog.current_facts(scratch_dsn)
            result.details["restored_rows"] = restored.table_rows.get(f"public.{catalog.LOG_TABLE}")
            result.problems += content_problems(manifest, restored)
    finally:
        catalog.drop_database(admin_dsn, scratch)

    if backup_id is None:
        source_newest = catalog.newest_log_ts(source_dsn)
        result.details["source_newest_log_ts"] = source_newest
        result.problems += freshness_problems(manifest, source_newest, rpo, clock())
    return result


def freshness_problems(
    manifest: Manifest, source_newest_log_ts: datetime | None, rpo: timedelta, now: datetime
) -> list[str]:
    """Ways the latest backup is older than the recovery point objective allows."""
    problems = []
    age = now - manifest.started_at
    if age > rpo:
        problems.append(f"latest backup {manifest.backup_id} is {age} old, more than the RPO {rpo}")
    if source_newest_log_ts is not None:
        if manifest.newest_log_ts is None:
            lag = None
        else:
            lag = source_newest_log_ts - manifest.newest_log_ts
        if lag is None or lag > rpo:
            problems.append(
                f"source's newest log {source_newest_log_ts} is more than the RPO {rpo} newer than "
                f"the backup's {manifest.newest_log_ts}"
            )
    return problems
