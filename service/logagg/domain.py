"""Shared domain types of the log service: records, the Kafka wire format, query filters and results.

This module is pure (no I/O, no settings loading); the API, the consumer and the repositories
all speak these types.

Repository functions (in ``logagg.store.logs``) that the API calls::

    ping(conn) -> None
    search_logs(conn, f: LogFilter, *, limit: int, order: Literal["desc", "asc"] = "desc",
                cursor: str | None = None) -> Page          # raises InvalidCursor
    histogram(conn, f: LogFilter, *, interval: timedelta) -> list[Bucket]   # raises TooManyBuckets
    list_services(conn, since: datetime, until: datetime) -> list[tuple[str, int]]

Time ranges are half-open everywhere: ``since`` is inclusive, ``until`` exclusive.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import orjson

#: Levels from least to most severe; ``min_level`` filters use this order.
LEVELS: tuple[str, ...] = ("trace", "debug", "info", "warn", "error", "fatal")
LEVEL_RANK: dict[str, int] = {name: rank for rank, name in enumerate(LEVELS)}

#: Version of the Kafka message envelope written by ``encode_batch``.
WIRE_VERSION = 1

Order = Literal["desc", "asc"]

#: Defaults for the ingest window when the settings object lacks the field.
DEFAULT_PARTITION_DAYS_AHEAD = 2
DEFAULT_RETENTION_DAYS = 14


class InvalidBatch(ValueError):
    """A Kafka message value that is not a valid ``{"v": 1, "records": [...]}`` batch."""


class InvalidCursor(ValueError):
    """A pagination cursor that is malformed, tampered with, or used with another order (→ HTTP 400)."""


class TooManyBuckets(ValueError):
    """A histogram request whose interval is too small for its time range (→ HTTP 400)."""


def levels_at_least(min_level: str) -> tuple[str, ...]:
    """Levels at or above ``min_level`` (e.g. ``warn`` → warn, error, fatal)."""
    if min_level not in LEVEL_RANK:
        raise ValueError(f"unknown level {min_level!r}; allowed: {', '.join(LEVELS)}")
    return LEVELS[LEVEL_RANK[min_level] :]


def format_ts(ts: datetime) -> str:
    """RFC 3339 UTC with microseconds and a ``Z`` suffix (the wire and API format)."""
    if ts.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    # isoformat is several times faster than strftime on the ingest hot path; UTC ends in +00:00.
    return ts.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset into an aware UTC datetime."""
    ts = datetime.fromisoformat(text.replace("z", "Z"))
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return ts.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One normalised log record, as validated by the API and stored by the consumer."""

    id: str
    ts: datetime
    service: str
    level: str
    message: str
    attributes: dict[str, Any] = field(default_factory=dict)
    trace_id: str | None = None
    span_id: str | None = None
    #: True when ``id`` came from the client (idempotency key), False when the server generated it.
    client_id: bool = False

    def to_wire(self) -> dict[str, Any]:
        """The record as a JSON-ready dict of the Kafka message format."""
        return {
            "id": self.id,
            "ts": format_ts(self.ts),
            "service": self.service,
            "level": self.level,
            "message": self.message,
            "attributes": self.attributes,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "client_id": self.client_id,
        }

    @classmethod
    def from_wire(cls, obj: Any) -> LogRecord:
        """Build a record from its wire dict; raises ``InvalidBatch`` naming the bad field."""
        if not isinstance(obj, dict):
            raise InvalidBatch(f"record must be an object, got {type(obj).__name__}")
        for name in ("id", "ts", "service", "level", "message"):
            if not isinstance(obj.get(name), str):
                raise InvalidBatch(f"record field {name!r} must be a string")
        if not obj["id"] or not obj["service"]:
            raise InvalidBatch("record fields 'id' and 'service' must not be empty")
        if obj["level"] not in LEVEL_RANK:
            raise InvalidBatch(f"record field 'level' must be one of {', '.join(LEVELS)}")
        attributes = obj.get("attributes", {})
        if attributes is None:
            attributes = {}
        if not isinstance(attributes, dict):
            raise InvalidBatch("record field 'attributes' must be an object")
        for name in ("trace_id", "span_id"):
            if obj.get(name) is not None and not isinstance(obj[name], str):
                raise InvalidBatch(f"record field {name!r} must be a string or null")
        client_id = obj.get("client_id", False)
        if not isinstance(client_id, bool):
            raise InvalidBatch("record field 'client_id' must be a boolean")
        try:
            ts = parse_ts(obj["ts"])
        except ValueError as exc:
            raise InvalidBatch(f"record field 'ts' is not an RFC 3339 timestamp: {exc}") from None
        return cls(
            id=obj["id"],
            ts=ts,
            service=obj["service"],
            level=obj["level"],
            message=obj["message"],
            attributes=attributes,
            trace_id=obj.get("trace_id"),
            span_id=obj.get("span_id"),
            client_id=client_id,
        )


def encode_batch(records: Iterable[LogRecord]) -> bytes:
    """Encode records as one Kafka message value (UTF-8 JSON ``{"v": 1, "records": [...]}``).

    orjson is the hot path. What it refuses goes through the stdlib encoder and is marked
    ``"exact": true``, so that the consumer decodes it with the stdlib too: orjson would read an
    integer beyond 64 bits as a float (lossy), and refuses escaped lone surrogates.
    """
    payload: dict[str, Any] = {"v": WIRE_VERSION, "records": [r.to_wire() for r in records]}
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        # ASCII escapes are always valid UTF-8, even for a lone surrogate (the API rejects them;
        # the consumer would isolate such a record rather than dead-letter the whole message).
        payload["exact"] = True
        return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _loads(value: bytes) -> Any:
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value.decode("utf-8"))  # e.g. an escaped lone surrogate
    if isinstance(payload, dict) and payload.get("exact") is True:
        return json.loads(value.decode("utf-8"))
    return payload


def decode_batch(value: bytes | None) -> list[LogRecord]:
    """Decode a Kafka message value; raises ``InvalidBatch`` with the reason on any defect."""
    if value is None:
        raise InvalidBatch("empty message (tombstone)")
    try:
        payload = _loads(value)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidBatch(f"not UTF-8 JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidBatch("message must be a JSON object")
    if payload.get("v") != WIRE_VERSION:
        raise InvalidBatch(f"unsupported envelope version {payload.get('v')!r}; expected {WIRE_VERSION}")
    raw = payload.get("records")
    if not isinstance(raw, list):
        raise InvalidBatch("field 'records' must be a list")
    records = []
    for index, item in enumerate(raw):
        try:
            records.append(LogRecord.from_wire(item))
        except InvalidBatch as exc:
            raise InvalidBatch(f"records[{index}]: {exc}") from None
    return records


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Query filters shared by search, histogram and (time only) services.

    ``levels`` and ``min_level`` may both be given; a record must then satisfy both.
    ``q`` is the user's full-text query as typed: words, ``"quoted phrases"``, ``or``, ``-word``.
    ``attrs`` are exact matches inside ``attributes``; a dotted key also matches a nested path.
    """

    services: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    min_level: str | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    attrs: tuple[tuple[str, str], ...] = ()
    trace_id: str | None = None

    def effective_levels(self) -> tuple[str, ...]:
        """Levels allowed by ``levels`` and ``min_level`` together; () means no level filter."""
        allowed: Sequence[str] = self.levels or LEVELS
        if self.min_level is not None:
            floor = set(levels_at_least(self.min_level))
            allowed = [lvl for lvl in allowed if lvl in floor]
        if not self.levels and self.min_level is None:
            return ()
        return tuple(lvl for lvl in LEVELS if lvl in allowed)

    @property
    def needs_raw_rows(self) -> bool:
        """True when the filter uses more than time/service/level (aggregates cannot answer it)."""
        return bool((self.q and self.q.strip()) or self.attrs or self.trace_id)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of search results; ``next_cursor`` is None when there are no more rows."""

    items: list[LogRecord]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Bucket:
    """One histogram bucket: ``[start, start + interval)`` with total and per-level counts."""

    start: datetime
    count: int
    levels: dict[str, int]


class _WindowSettings(Protocol):
    @property
    def retention_days(self) -> int: ...


def ingest_window(now: datetime, settings: _WindowSettings) -> tuple[datetime, datetime]:
    """The accepted range of record timestamps ``[earliest, latest]`` at ``now``.

    Older than ``retention_days`` would be dropped by the next retention run; more than
    ``partition_days_ahead`` days in the future is almost certainly a clock or unit error.
    The consumer creates partitions for any day it sees, so this is a policy, not a storage limit.
    """
    retention = getattr(settings, "retention_days", DEFAULT_RETENTION_DAYS)
    ahead = getattr(settings, "partition_days_ahead", DEFAULT_PARTITION_DAYS_AHEAD)
    return now - timedelta(days=retention), now + timedelta(days=ahead)


def bucket_count(since: datetime, until: datetime, interval: timedelta) -> int:
    """Number of epoch-aligned buckets of ``interval`` that cover ``[since, until)``."""
    step = interval.total_seconds()
    first = math.floor(since.timestamp() / step)
    last = math.ceil(until.timestamp() / step)
    return max(0, last - first)
