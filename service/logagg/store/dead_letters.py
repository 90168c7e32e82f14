"""Dead letters: Kafka messages that could not be decoded or stored, kept with the reason for redrive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import Connection

#: Reasons are truncated so a huge error text cannot bloat the table.
MAX_REASON_CHARS = 2000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected Kafka message."""

    topic: str
    partition: int
    offset: int
    reason: str
    payload: bytes | None


def add_dead_letters(conn: Connection[Any], letters: list[DeadLetter]) -> int:
    """Store dead letters (a redelivered one is ignored); returns how many were new."""
    if not letters:
        return 0
    new = 0
    with conn.cursor() as cur:
        for dl in letters:
            cur.execute(
                'INSERT INTO dead_letters (topic, "partition", "offset", reason, payload)'
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (topic, \"partition\", \"offset\") DO NOTHING",
                (dl.topic, dl.partition, dl.offset, dl.reason[:MAX_REASON_CHARS], dl.payload),
            )
            new += cur.rowcount
    return new


def list_dead_letters(conn: Connection[Any], limit: int = 100) -> list[DeadLetter]:
    """The most recent dead letters, newest first."""
    rows = conn.execute(
        'SELECT topic, "partition", "offset", reason, payload FROM dead_letters ORDER BY id DESC LIMIT %s',
        (limit,),
    ).fetchall()
    return [DeadLetter(t, p, o, r, bytes(b) if b is not None else None) for t, p, o, r, b in rows]
