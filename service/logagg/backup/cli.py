"""Command line: ``logagg backup run|verify|restore|prune|list``.

Exit codes: 0 success, 1 the operation ran and failed (bad backup, failed dump), 2 bad usage or
configuration. Every run and verification is recorded in ``backup_runs`` (also failures), which
the consumer exports as the backup/restore-verification gauges the alerts watch.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from . import catalog
from .manifest import parse_backup_id
from .prune import prune_backups
from .restore import restore_backup
from .run import run_backup, utcnow
from .settings import BackupSettings
from .storage import BackupBucket
from .verify import latest_manifest, verify_backup

log = logging.getLogger("logagg.backup")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used for `--help` in the docs)."""
    parser = argparse.ArgumentParser(
        prog="logagg backup", description="Logical backups of the log database to S3."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="dump the database to the bucket and write its manifest")
    run.add_argument("--prune", action="store_true", help="apply the retention policy afterwards")
    verify = sub.add_parser("verify", help="restore a backup into a scratch database and check it")
    verify.add_argument("--backup-id", type=_backup_id, help="default: the latest backup")
    restore = sub.add_parser("restore", help="restore a backup into a target database")
    restore.add_argument("--backup-id", type=_backup_id, help="default: the latest backup")
    restore.add_argument(
        "--target-database-url",
        "--target-dsn",
        dest="target_database_url",
        default=os.environ.get("LOGAGG_BACKUP_RESTORE_TARGET_URL"),
        help="DSN of the database to restore into (env LOGAGG_BACKUP_RESTORE_TARGET_URL); "
        "should be empty unless --clean",
    )
    restore.add_argument("--clean", action="store_true", help="drop the dumped objects first")
    restore.add_argument("--spool-dir", help="where the dump is checked before restoring (default TMPDIR)")
    prune = sub.add_parser("prune", help="delete backups the keep-daily/keep-weekly policy drops")
    prune.add_argument("--dry-run", action="store_true", help="only print what would be deleted")
    sub.add_parser("list", help="list complete backups, oldest first")
    return parser


def _backup_id(text: str) -> str:
    try:
        parse_backup_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _emit(payload: dict[str, Any]) -> None:
    """Print the command's result as one JSON line on stdout (for humans, jobs and tests)."""
    print(json.dumps(payload, default=str, sort_keys=True), flush=True)


def _record(dsn: str, kind: str, started: datetime, ok: bool, details: dict[str, Any]) -> None:
    """Record a run; a failure to record is logged and makes the command fail, never silently."""
    catalog.record_run(dsn, kind=kind, started_at=started, finished_at=utcnow(), ok=ok, details=details)


def _cmd_run(settings: BackupSettings, bucket: BackupBucket, args: argparse.Namespace) -> int:
    dsn = settings.database_dsn()
    started = utcnow()
    try:
        manifest = run_backup(
            dsn,
            bucket,
            part_size=settings.backup_part_size_mb * 1024 * 1024,
            pg_bin_dir=settings.backup_pg_bin_dir,
        )
    except Exception as exc:
        log.exception("backup failed")
        _record(dsn, "backup", started, False, {"error": str(exc)[:2000]})
        _emit({"command": "run", "ok": False, "error": str(exc)})
        return 1
    details = {
        "backup_id": manifest.backup_id,
        "dump_key": manifest.dump_key,
        "size_bytes": manifest.size_bytes,
        "sha256": manifest.sha256,
        "log_rows": manifest.table_rows.get(f"public.{catalog.LOG_TABLE}"),
        "newest_log_ts": manifest.newest_log_ts,
        "seconds": (manifest.finished_at - manifest.started_at).total_seconds(),
    }
    _record(dsn, "backup", started, True, details)
    _emit({"command": "run", "ok": True, **details})
    if args.prune:
        return _cmd_prune(settings, bucket, argparse.Namespace(dry_run=False))
    return 0


def _cmd_verify(settings: BackupSettings, bucket: BackupBucket, args: argparse.Namespace) -> int:
    dsn = settings.database_dsn()
    started = utcnow()
    try:
        result = verify_backup(
            dsn,
            bucket,
            backup_id=args.backup_id,
            rpo=settings.rpo(),
            scratch_admin_dsn=settings.scratch_admin_dsn(),
            pg_bin_dir=settings.backup_pg_bin_dir,
        )
        ok, details = result.ok, {**result.details, "problems": result.problems}
    except Exception as exc:
        # No backup at all, bucket unreachable, no CREATEDB...: a failed verification too.
        log.exception("verification could not run")
        ok, details = False, {"problems": [f"verification could not run: {exc}"[:2000]]}
    details["seconds"] = (utcnow() - started).total_seconds()
    _record(dsn, "verify", started, ok, details)
    _emit({"command": "verify", "ok": ok, **details})
    return 0 if ok else 1


def _cmd_restore(settings: BackupSettings, bucket: BackupBucket, args: argparse.Namespace) -> int:
    if not args.target_database_url:
        raise ValueError(
            "restore needs --target-database-url (or LOGAGG_BACKUP_RESTORE_TARGET_URL); it never "
            "defaults to the source database"
        )
    manifest = bucket.get_manifest(args.backup_id) if args.backup_id else latest_manifest(bucket)
    started = utcnow()
    result = restore_backup(
        bucket,
        manifest,
        args.target_database_url,
        clean=args.clean,
        spool_dir=args.spool_dir,
        pg_bin_dir=settings.backup_pg_bin_dir,
    )
    _emit(
        {
            "command": "restore",
            "ok": result.ok,
            "backup_id": result.backup_id,
            "problems": result.problems,
            "seconds": (utcnow() - started).total_seconds(),
        }
    )
    return 0 if result.ok else 1


def _cmd_prune(settings: BackupSettings, bucket: BackupBucket, args: argparse.Namespace) -> int:
    result = prune_backups(bucket, settings.retention(), dry_run=args.dry_run)
    _emit({"command": "prune", "ok": True, "dry_run": args.dry_run, **asdict(result)})
    return 0


def _cmd_list(settings: BackupSettings, bucket: BackupBucket, args: argparse.Namespace) -> int:
    for backup_id in bucket.backup_ids():
        manifest = bucket.get_manifest(backup_id)
        _emit(
            {
                "backup_id": backup_id,
                "size_bytes": manifest.size_bytes,
                "newest_log_ts": manifest.newest_log_ts,
                "log_rows": manifest.table_rows.get(f"public.{catalog.LOG_TABLE}"),
            }
        )
    return 0


_COMMANDS = {
    "run": _cmd_run,
    "verify": _cmd_verify,
    "restore": _cmd_restore,
    "prune": _cmd_prune,
    "list": _cmd_list,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``logagg backup``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = BackupSettings()
        from logagg.logconfig import configure_logging

        configure_logging(os.environ.get("LOGAGG_LOG_LEVEL", "info"))
        bucket = BackupBucket(settings.bucket_location())
        return _COMMANDS[args.command](settings, bucket, args)
    except (ValidationError, ValueError, LookupError) as exc:
        # Configuration and "no such backup" errors: say what is wrong, no traceback.
        print(f"logagg backup {args.command}: {exc}", file=sys.stderr)
        return 2
