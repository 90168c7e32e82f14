"""Retention job (``logagg retention``): drop old partitions, prune side tables, reconcile the
quarter-hour counts, create partitions ahead.

Run it at least daily (the Kubernetes CronJob runs it hourly; it is idempotent). Records are kept
for at least ``retention_days``: a day's partition is dropped only once the whole day is older
than the cutoff.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import psycopg

from logagg.store.maintenance import prune_before, reconcile_quarter_counts
from logagg.store.partitions import day_start, drop_partitions_before, ensure_partitions

log = logging.getLogger(__name__)


class RetentionSettings(Protocol):
    """The settings retention reads."""

    @property
    def retention_days(self) -> int: ...
    @property
    def partition_days_ahead(self) -> int: ...

    def database_dsn(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RetentionSummary:
    """What one retention run did."""

    cutoff: datetime
    dropped_partitions: list[str]
    created_partitions: int
    pruned: dict[str, int] = field(default_factory=dict)
    #: quarter-hour count rows corrected to match the per-minute counts (normally 0)
    reconciled_quarter_counts: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the command's log line."""
        return {
            "cutoff": self.cutoff.isoformat(),
            "dropped_partitions": self.dropped_partitions,
            "created_partitions": self.created_partitions,
            "pruned": self.pruned,
            "reconciled_quarter_counts": self.reconciled_quarter_counts,
        }


def apply_retention(
    conn: psycopg.Connection[Any], *, retention_days: int, days_ahead: int, now: datetime
) -> RetentionSummary:
    """Retention on an open autocommit connection (each step manages its own transaction)."""
    cutoff = now - timedelta(days=retention_days)
    keep_from: date = cutoff.astimezone(UTC).date()
    dropped = drop_partitions_before(conn, keep_from)
    pruned = prune_before(conn, day_start(keep_from))
    reconciled = reconcile_quarter_counts(conn)
    today = now.astimezone(UTC).date()
    created = ensure_partitions(conn, [today + timedelta(days=n) for n in range(days_ahead + 1)])
    return RetentionSummary(cutoff=cutoff, dropped_partitions=dropped, created_partitions=created, pruned=pruned,
                            reconciled_quarter_counts=reconciled)


def run_retention(settings: RetentionSettings, *, now: datetime | None = None) -> RetentionSummary:
    """Connect with the service settings and apply retention; logs and returns the summary."""
    now = now or datetime.now(UTC)
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        summary = apply_retention(
            conn, retention_days=settings.retention_days, days_ahead=settings.partition_days_ahead, now=now
        )
    log.info("retention done", extra={"retention": summary.as_dict()})
    return summary
