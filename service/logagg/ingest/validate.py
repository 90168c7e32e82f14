"""Validation and normalisation of raw records into domain ``LogRecord``s (atomic per batch)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from logagg.domain import LogRecord, format_ts
from logagg.ingest.errors import Problem, ValidationFailed
from logagg.ingest.ids import new_record_id

SERVICE_RE = re.compile(r"[A-Za-z0-9._/-]{1,128}")
HEX_RE = re.compile(r"[0-9a-fA-F]{1,64}")
RFC3339_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?P<frac>\.\d{1,9})?(?P<tz>[Zz]|[+-]\d{2}:\d{2})"
)
MAX_MESSAGE_BYTES = 64 * 1024
MAX_ATTRIBUTES_BYTES = 16 * 1024
MAX_ID_CHARS = 128
#: At most this many problems are listed in a 422 (the total is always given).
MAX_PROBLEMS = 100

LEVEL_ALIASES = {
    "trace": "trace",
    "debug": "debug",
    "info": "info",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
    "fatal": "fatal",
    "critical": "fatal",
}
KNOWN_FIELDS = frozenset(
    {"id", "timestamp", "service", "level", "message", "attributes", "trace_id", "span_id"}
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: One reusable encoder: json.dumps with options builds a new encoder on every call.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class _Collector:
    """Gathers problems across the batch, keeping the first MAX_PROBLEMS."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.total = 0

    def add(self, index: int | None, field: str | None, problem: str) -> None:
        self.total += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(index, field, problem))


def parse_rfc3339(text: str) -> datetime:
    """Strict RFC 3339 (offset required, up to nanosecond digits, truncated to µs) → aware UTC."""
    match = RFC3339_RE.fullmatch(text)
    if match is None:
        raise ValueError("not an RFC 3339 timestamp with offset (e.g. 2026-01-02T03:04:05.678Z)")
    frac = match.group("frac") or ""
    base = text[: match.start("frac")] if frac else text[: match.start("tz")]
    micro = (frac[1:] + "000000")[:6] if frac else "000000"
    tz = match.group("tz").upper()
    tz = "+00:00" if tz == "Z" else tz
    try:
        ts = datetime.fromisoformat(f"{base.replace('t', 'T').replace(' ', 'T')}.{micro}{tz}")
    except ValueError as exc:
        raise ValueError(f"invalid date or time: {exc}") from None
    return ts.astimezone(UTC)


def epoch_to_datetime(value: float) -> datetime:
    """Epoch number → UTC; the unit (s, ms, µs, ns) is detected by magnitude."""
    magnitude = abs(value)
    # Thresholds sit far from "now" in every unit: 1e11 s is year 5138, 1e11 ms is 1973.
    if magnitude < 1e11:
        micros = value * 1_000_000
    elif magnitude < 1e14:
        micros = value * 1_000
    elif magnitude < 1e17:
        micros = value
    else:
        micros = value // 1_000 if isinstance(value, int) else value / 1_000
    return _EPOCH + timedelta(microseconds=int(micros))


def _timestamp(raw: Any, now: datetime) -> datetime:
    if raw is None:
        return now
    if isinstance(raw, bool):
        raise ValueError(  # noqa: TRY004 - collected as a field problem, not a type bug
            "must be an RFC 3339 string or an integer epoch, not a boolean"
        )
    if isinstance(raw, int | float):
        if isinstance(raw, float) and not math.isfinite(raw):
            raise ValueError("must be a finite number")
        try:
            return epoch_to_datetime(raw)
        except OverflowError:
            raise ValueError("epoch value is out of range") from None
    if isinstance(raw, str):
        return parse_rfc3339(raw)
    raise ValueError("must be an RFC 3339 string or an integer epoch (s, ms, µs or ns)")


def validate_records(
    items: Sequence[Any], *, now: datetime, window: tuple[datetime, datetime]
) -> list[LogRecord]:
    """Validate every item; return all records or raise ValidationFailed listing each problem."""
    errors = _Collector()
    records: list[LogRecord] = []
    for index, item in enumerate(items):
        record = _validate_one(index, item, now, window, errors)
        if record is not None:
            records.append(record)
    if errors.total:
        raise ValidationFailed(errors.problems, errors.total)
    return records


def _validate_one(
    index: int, item: Any, now: datetime, window: tuple[datetime, datetime], errors: _Collector
) -> LogRecord | None:
    if not isinstance(item, dict):
        errors.add(index, None, f"record must be a JSON object, got {_json_type(item)}")
        return None
    before = errors.total
    if not KNOWN_FIELDS.issuperset(item):
        for name in sorted(set(item) - KNOWN_FIELDS):
            errors.add(index, name, "unknown field; put extra data into 'attributes'")

    service = item.get("service")
    if service is None:
        errors.add(index, "service", "required")
    elif not isinstance(service, str) or not SERVICE_RE.fullmatch(service):
        errors.add(index, "service", "must be 1-128 characters of A-Z a-z 0-9 . _ / -")

    message = item.get("message")
    if message is None:
        errors.add(index, "message", "required")
    elif not isinstance(message, str):
        errors.add(index, "message", f"must be a string, got {_json_type(message)}")
    elif (problem := _unstorable(message)) is not None:
        errors.add(index, "message", problem)
    elif len(message) > MAX_MESSAGE_BYTES // 4 and len(message.encode()) > MAX_MESSAGE_BYTES:
        errors.add(index, "message", f"longer than {MAX_MESSAGE_BYTES} bytes (UTF-8)")

    ts: datetime | None = None
    try:
        ts = _timestamp(item.get("timestamp"), now)
    except ValueError as exc:
        errors.add(index, "timestamp", str(exc))
    if ts is not None and not window[0] <= ts <= window[1]:
        errors.add(
            index,
            "timestamp",
            f"{format_ts(ts)} is outside the accepted window "
            f"[{format_ts(window[0])}, {format_ts(window[1])}] (retention / future limit)",
        )

    level = item.get("level")
    if level is None:
        level = "info"
    elif not isinstance(level, str) or level.lower() not in LEVEL_ALIASES:
        errors.add(index, "level", "must be one of " + ", ".join(LEVEL_ALIASES))
    else:
        level = LEVEL_ALIASES[level.lower()]

    attributes = item.get("attributes")
    if attributes is None:
        attributes = {}
    elif not isinstance(attributes, dict):
        errors.add(index, "attributes", f"must be a JSON object, got {_json_type(attributes)}")
    elif (problem := _unstorable_json(attributes, text := _COMPACT.encode(attributes))) is not None:
        errors.add(index, "attributes", problem)
    else:
        size = _serialised_size(text)
        if size > MAX_ATTRIBUTES_BYTES:
            errors.add(index, "attributes", f"{size} bytes serialised; at most {MAX_ATTRIBUTES_BYTES}")

    ids: dict[str, str | None] = {}
    for name in ("trace_id", "span_id"):
        value = item.get(name)
        if value is None:
            ids[name] = None
        elif not isinstance(value, str) or not HEX_RE.fullmatch(value):
            errors.add(index, name, "must be a hex string of 1-64 characters")
        else:
            ids[name] = value.lower()

    record_id = item.get("id")
    if record_id is not None and (
        not isinstance(record_id, str) or not 1 <= len(record_id) <= MAX_ID_CHARS
    ):
        errors.add(index, "id", f"must be a string of 1-{MAX_ID_CHARS} characters")
    elif record_id is not None and (problem := _unstorable(record_id)) is not None:
        errors.add(index, "id", problem)

    if errors.total != before or ts is None:
        return None
    # No problem was recorded, so the required fields are strings (narrowing for the type checker).
    assert isinstance(service, str) and isinstance(message, str)
    return LogRecord(
        id=record_id if record_id is not None else new_record_id(),
        ts=ts,
        service=service,
        level=level,
        message=message,
        attributes=attributes,
        trace_id=ids["trace_id"],
        span_id=ids["span_id"],
        client_id=record_id is not None,
    )


def _unstorable(text: str) -> str | None:
    """Why PostgreSQL could not store `text` (NUL, unpaired surrogate), or None.

    Rejecting these at the door keeps them out of the dead-letter table: text and jsonb columns
    refuse U+0000, and UTF-8 cannot encode a lone surrogate.
    """
    if "\x00" in text:
        return "contains a NUL character (U+0000), which cannot be stored"
    return _not_utf8(text)


def _unstorable_json(value: dict[str, Any], text: str) -> str | None:
    """Like _unstorable for an attributes object, given its compact JSON `text`."""
    # JSON writes NUL as an escape; only when the escape appears is the exact walk needed.
    if "\\u0000" in text and _has_nul(value):
        return "contains a NUL character (U+0000) in a key or value, which cannot be stored"
    return _not_utf8(text)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _not_utf8(text: str) -> str | None:
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return "contains an unpaired UTF-16 surrogate, which is not valid Unicode text"
    return None


def _serialised_size(text: str) -> int:
    """UTF-8 size of the compact JSON form (as it travels and is stored)."""
    # Only non-ASCII text needs the (slower) byte count.
    return len(text) if text.isascii() else len(text.encode())


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
