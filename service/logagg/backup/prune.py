"""`backup prune`: delete every backup the retention policy does not keep (dump and manifest)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .manifest import parse_backup_id
from .retention import RetentionPolicy, backups_to_keep
from .storage import DUMP_SUFFIX, BackupBucket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneResult:
    """Backups kept and object keys deleted (or that would be, in a dry run)."""

    kept: list[str]
    deleted_keys: list[str]


def prune_backups(
    bucket: BackupBucket, policy: RetentionPolicy, *, dry_run: bool = False
) -> PruneResult:
    """Apply the retention policy to the bucket.

    Also removes orphaned dumps (a dump whose manifest was never written because the run
    failed) once a newer complete backup exists; a run still uploading has no object yet,
    because S3 only shows a multipart upload when it completes. Objects that are not backups
    are never touched.
    """
    ids = bucket.backup_ids()
    started = {backup_id: parse_backup_id(backup_id) for backup_id in ids}
    keep_times = backups_to_keep(started.values(), policy)
    kept = [backup_id for backup_id in ids if started[backup_id] in keep_times]
    doomed = [backup_id for backup_id in ids if started[backup_id] not in keep_times]
    keys = [k for backup_id in doomed for k in (bucket.dump_key(backup_id), bucket.manifest_key(backup_id))]

    newest = ids[-1] if ids else None
    complete = set(ids)
    prefix = bucket.dump_key("")[: -len(DUMP_SUFFIX)]
    for key in bucket.list_keys():
        stem = key[len(prefix) : -len(DUMP_SUFFIX)] if key.endswith(DUMP_SUFFIX) else None
        if stem is None or "/" in stem or stem in complete:
            continue
        try:
            parse_backup_id(stem)
        except ValueError:
            continue  # not ours
        if newest is not None and stem < newest:
            keys.append(key)
    if keys and not dry_run:
        bucket.delete(keys)
    log.info("prune", extra={"kept": kept, "deleted": keys, "dry_run": dry_run})
    return PruneResult(kept, sorted(keys))
