"""Pruning of the side tables that retention keeps in step with the dropped partitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Connection


def prune_before(conn: Connection[Any], boundary: datetime) -> dict[str, int]:
    """Delete client ids and counts older than ``boundary``; returns rows deleted per table.

    ``boundary`` must be the start of the oldest kept partition: a client id is kept exactly as long
    as the row it protects, so a resend can never slip in while the original row still exists.
    """
    with conn.transaction():
        ids = conn.execute("DELETE FROM client_ids WHERE ts < %s", (boundary,)).rowcount
        counts = conn.execute("DELETE FROM log_counts WHERE minute < %s", (boundary,)).rowcount
        counts_15m = conn.execute("DELETE FROM log_counts_15m WHERE bucket < %s", (boundary,)).rowcount
        dead = conn.execute("DELETE FROM dead_letters WHERE received_at < %s", (boundary,)).rowcount
    return {"client_ids": ids, "log_counts": counts, "log_counts_15m": counts_15m, "dead_letters": dead}
