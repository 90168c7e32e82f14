"""Which backups to keep: the newest backup of each of the last N days and of the last M weeks.

Semantics (the same as restic's ``--keep-daily``/``--keep-weekly``): backups are grouped by UTC
calendar day and by ISO week; the daily rule keeps the newest backup of each of the N most recent
days that *have* a backup, the weekly rule keeps the newest backup of each of the M most recent ISO
weeks that have one. The rules are independent (a backup kept by both counts for both) and the
newest backup overall is always kept, so pruning can never empty the bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class RetentionPolicy:
    """How many daily and weekly backups `prune` keeps."""

    keep_daily: int = 7
    """Number of most recent days (with a backup) whose newest backup is kept."""
    keep_weekly: int = 4
    """Number of most recent ISO weeks (with a backup) whose newest backup is kept."""

    def __post_init__(self) -> None:
        if self.keep_daily < 0 or self.keep_weekly < 0:
            raise ValueError("keep_daily and keep_weekly must be >= 0")


def _newest_per_bucket(
    ordered: list[datetime], bucket: Callable[[datetime], Hashable], limit: int
) -> set[datetime]:
    """The first (newest) element of each of the first `limit` distinct buckets of `ordered`."""
    kept: set[datetime] = set()
    seen: set[Hashable] = set()
    for moment in ordered:
        key = bucket(moment)
        if key in seen:
            continue
        if len(seen) == limit:
            break
        seen.add(key)
        kept.add(moment)
    return kept


def backups_to_keep(started: Iterable[datetime], policy: RetentionPolicy) -> set[datetime]:
    """The start times (UTC-aware) of the backups the policy keeps."""
    ordered = sorted(set(started), reverse=True)
    if not ordered:
        return set()
    keep = {ordered[0]}
    keep |= _newest_per_bucket(ordered, lambda t: t.date(), policy.keep_daily)
    keep |= _newest_per_bucket(ordered, lambda t: t.isocalendar()[:2], policy.keep_weekly)
    return keep
