"""`backup run`: stream `pg_dump -Fc` of one consistent snapshot into the bucket, then its manifest."""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO

from . import catalog
from .manifest import Manifest, backup_id_for
from .pgtools import ClientToolError, find_tool, libpq_args, require_compatible
from .storage import BackupBucket

log = logging.getLogger(__name__)

DEFAULT_PART_SIZE = 16 * 1024 * 1024


def utcnow() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


def stderr_tail(handle: IO[bytes], limit: int = 2000) -> str:
    """The last `limit` characters a child wrote to its stderr file."""
    handle.seek(0)
    return handle.read().decode(errors="replace")[-limit:].strip()


def run_backup(
    source_dsn: str,
    bucket: BackupBucket,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    pg_bin_dir: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Manifest:
    """Dump the database behind `source_dsn` into the bucket and return the stored manifest.

    The dump is never held in memory or on disk: pg_dump's stdout is cut into `part_size`
    parts of a multipart upload, hashed on the way. Row counts come from the very snapshot
    pg_dump exports, so the manifest describes the dump exactly.
    """
    pg_dump = find_tool("pg_dump", pg_bin_dir)
    started = clock()
    backup_id = backup_id_for(started)
    key = bucket.dump_key(backup_id)
    with catalog.exported_snapshot(source_dsn) as (snapshot_id, facts):
        dump_version = require_compatible(pg_dump, facts.server_version_num)
        conninfo, env = libpq_args(source_dsn)
        command = [
            pg_dump,
            "--format=custom",
            f"--snapshot={snapshot_id}",
            "--no-password",
            f"--dbname={conninfo}",
        ]
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env)

            def pg_dump_succeeded() -> None:
                if proc.wait() != 0:
                    raise ClientToolError(
                        f"pg_dump exited with {proc.returncode}: {stderr_tail(errors)}"
                    )

            try:
                assert proc.stdout is not None
                uploaded = bucket.upload_stream(
                    key, proc.stdout, part_size, before_complete=pg_dump_succeeded
                )
            finally:
                if proc.poll() is None:  # upload failed mid-way: do not leave pg_dump behind
                    proc.kill()
                    proc.wait()
    manifest = Manifest(
        backup_id=backup_id,
        started_at=started,
        finished_at=clock(),
        dump_key=key,
        size_bytes=uploaded.size_bytes,
        sha256=uploaded.sha256,
        server_version=facts.server_version,
        pg_dump_version=dump_version,
        database=facts.database,
        table_rows=facts.table_rows,
        newest_log_ts=facts.newest_log_ts,
    )
    bucket.put_manifest(manifest)
    log.info(
        "backup stored",
        extra={"backup_id": backup_id, "size_bytes": uploaded.size_bytes, "key": key},
    )
    return manifest
