"""The drill checker: what the load process was told (journal of every attempt) against what is stored.

Per record key (``attributes.bench_key``):
- acked   — attempts of its batch answered 202;
- unknown — attempts whose outcome the client never saw (connection dropped mid-request), which
  may or may not have been accepted;
- stored  — rows in ``logs`` carrying the key.

Verdict: **missing** = acked ≥ 1 and stored = 0 (must be none). **duplicates**: a record sent with a
client id stored more than once, or one without an id stored more often than it was accepted
(acked + unknown) — must be none. Rows stored more often than acked but within acked + unknown are
reported as ``ambiguous_extra``: an honest outcome of a client retrying after a lost response
without an idempotency key.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.load import TRANSPORT_ERROR


@dataclass
class Expectation:
    """Per-key attempt outcomes from a journal."""

    acked: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    with_id: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)


def read_journal(path: Path, tag: str) -> Expectation:
    """Outcomes per record key from the load process's journal."""
    exp = Expectation()
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        exp.statuses[entry["status"]] += 1
        keys = [f"{tag}:{entry['batch']}:{i}" for i in range(entry["n"])]
        if entry["ids"]:
            exp.with_id.update(keys)
        if entry["status"] == 202:
            exp.acked.update(keys)
        elif entry["status"] == TRANSPORT_ERROR:
            exp.unknown.update(keys)
    return exp


def stored_counts(dsn: str, tag: str) -> Counter[str]:
    """Rows per record key of drill ``tag``."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT attributes->>'bench_key', count(*) FROM logs"
            " WHERE attributes->>'bench_key' LIKE %s GROUP BY 1",
            (f"{tag}:%",),
        ).fetchall()
    return Counter({key: int(n) for key, n in rows})


@dataclass
class DrillResult:
    """Outcome of one drill."""

    name: str
    acked_records: int
    stored_rows: int
    missing: int
    duplicates: int
    ambiguous_extra: int
    unexpected: int
    statuses: dict[str, int]
    notes: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """acked − stored = ∅, no duplicates, nothing stored that was never sent, and every batch
        eventually accepted (the pipeline recovered within the client's retry window)."""
        return (self.acked_records > 0 and self.missing == 0 and self.duplicates == 0 and self.unexpected == 0
                and self.notes.get("unacked_batches", 0) == 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "ok": self.ok}

    def line(self) -> str:
        """One summary line for reports."""
        return (f"{self.name:<28} {'PASS' if self.ok else 'FAIL'}  acked {self.acked_records:>7,}  "
                f"stored {self.stored_rows:>7,}  missing {self.missing}  duplicates {self.duplicates}  "
                f"ambiguous {self.ambiguous_extra}  unacked batches {self.notes.get('unacked_batches')}  "
                f"statuses {self.statuses}")


def check(name: str, tag: str, journal: Path, dsn: str, **notes: Any) -> DrillResult:
    """Compare the journal of drill ``tag`` with the rows stored in ``dsn``."""
    exp = read_journal(journal, tag)
    stored = stored_counts(dsn, tag)
    missing = [k for k in exp.acked if stored[k] == 0]
    duplicates, ambiguous = [], []
    for key, n in stored.items():
        allowed = 1 if key in exp.with_id else exp.acked[key] + exp.unknown[key]
        if n > allowed:
            duplicates.append(key)
        elif key not in exp.with_id and n > exp.acked[key]:
            ambiguous.append(key)
    sent = set(exp.acked) | set(exp.unknown)
    unexpected = [k for k in stored if k not in sent and k not in exp.with_id]
    # A record with a client id that was never acked but stored (e.g. its 503'd attempt had reached
    # Kafka) is fine: a retry would have been deduplicated. Without an id it must not appear at all.
    return DrillResult(
        name=name,
        acked_records=len(exp.acked),
        stored_rows=sum(stored.values()),
        missing=len(missing),
        duplicates=len(duplicates),
        ambiguous_extra=len(ambiguous),
        unexpected=len(unexpected),
        statuses={str(k): v for k, v in sorted(exp.statuses.items())},
        notes=notes,
        examples={"missing": sorted(missing)[:5], "duplicates": sorted(duplicates)[:5],
                  "unexpected": sorted(unexpected)[:5]},
    )
