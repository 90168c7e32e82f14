"""Feeding a dump into `pg_restore` (streamed for verification, spooled for real restores)."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import catalog
from .manifest import Manifest
from .pgtools import ClientToolError, find_tool, libpq_args
from .run import stderr_tail
from .storage import BackupBucket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FedDump:
    """What passed through the pipe into pg_restore, and how pg_restore ended."""

    size_bytes: int
    sha256: str
    returncode: int
    stderr: str


def feed_pg_restore(
    chunks: Iterable[bytes],
    target_dsn: str,
    *,
    pg_restore: str,
    clean: bool = False,
) -> FedDump:
    """Pipe `chunks` (a custom-format dump) into pg_restore, hashing every byte.

    The restore runs in one transaction, so a failing dump leaves the target untouched. Hashing
    continues after an early pg_restore exit so the caller still learns whether the bytes matched.
    """
    conninfo, env = libpq_args(target_dsn)
    command = [
        pg_restore,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--no-password",
        f"--dbname={conninfo}",
    ]
    if clean:
        command += ["--clean", "--if-exists"]
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=errors, env=env)
        assert proc.stdin is not None
        reader_gone = False
        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                if reader_gone:
                    continue
                try:
                    proc.stdin.write(chunk)
                except BrokenPipeError:
                    reader_gone = True  # pg_restore stopped; its exit code says why
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass  # same: the exit code and stderr carry the reason
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        returncode = proc.wait()
        return FedDump(size, digest.hexdigest(), returncode, stderr_tail(errors))


def _file_chunks(path: Path, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


@dataclass
class RestoreResult:
    """Outcome of `backup restore`."""

    backup_id: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the dump was intact, restored, and the target matches the manifest."""
        return not self.problems


def restore_backup(
    bucket: BackupBucket,
    manifest: Manifest,
    target_dsn: str,
    *,
    clean: bool = False,
    spool_dir: str | None = None,
    pg_bin_dir: str | None = None,
) -> RestoreResult:
    """Restore a backup into `target_dsn`, refusing to apply a dump that fails its checksum.

    Unlike verification the dump is first spooled to a local file and checked, because a real
    restore must not start from bytes that turn out to be corrupt at the end.
    """
    pg_restore = find_tool("pg_restore", pg_bin_dir)
    result = RestoreResult(manifest.backup_id)
    with tempfile.TemporaryDirectory(dir=spool_dir, prefix="logagg-restore-") as tmp:
        path = Path(tmp) / "backup.dump"
        digest = hashlib.sha256()
        size = 0
        with path.open("wb") as out:
            for chunk in bucket.iter_object(manifest.dump_key):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        result.problems += integrity_problems(manifest, size, digest.hexdigest())
        if result.problems:
            return result
        fed = feed_pg_restore(_file_chunks(path), target_dsn, pg_restore=pg_restore, clean=clean)
    if fed.returncode != 0:
        raise ClientToolError(f"pg_restore exited with {fed.returncode}: {fed.stderr}")
    restored = catalog.current_facts(target_dsn)
    result.problems += content_problems(manifest, restored, only_manifest_tables=True)
    return result


def integrity_problems(manifest: Manifest, size: int, sha256: str) -> list[str]:
    """Differences between the bytes read and what the manifest recorded."""
    problems = []
    if size != manifest.size_bytes:
        problems.append(
            f"dump size {size} bytes differs from the manifest's {manifest.size_bytes} "
            "(truncated or replaced dump)"
        )
    if sha256 != manifest.sha256:
        problems.append(f"dump sha256 {sha256} differs from the manifest's (corrupted dump)")
    return problems


def content_problems(
    manifest: Manifest, restored: catalog.SnapshotFacts, *, only_manifest_tables: bool = False
) -> list[str]:
    """Differences between a restored database and the manifest (row counts, newest log)."""
    problems = []
    names = set(manifest.table_rows)
    if not only_manifest_tables:
        names |= set(restored.table_rows)
    for name in sorted(names):
        expected = manifest.table_rows.get(name)
        actual = restored.table_rows.get(name)
        if expected != actual:
            problems.append(f"table {name}: {actual} rows restored, manifest says {expected}")
    if restored.newest_log_ts != manifest.newest_log_ts:
        problems.append(
            f"newest log timestamp {restored.newest_log_ts} restored, "
            f"manifest says {manifest.newest_log_ts}"
        )
    return problems
