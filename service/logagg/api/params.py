"""Parsing query-string parameters into domain filters; every error names the parameter."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from starlette.datastructures import QueryParams

from logagg.api.errors import invalid_parameter
from logagg.domain import LEVELS, LogFilter
from logagg.ingest.validate import HEX_RE, LEVEL_ALIASES, SERVICE_RE, parse_rfc3339

DURATION_RE = re.compile(r"(\d{1,6})([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Histogram intervals chosen automatically, smallest first.
AUTO_INTERVALS = tuple(
    timedelta(seconds=s)
    for s in (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400, 604800)
)
#: Automatic intervals aim at no more than this many buckets.
TARGET_BUCKETS = 120
#: An explicit interval may produce at most this many buckets.
MAX_BUCKETS = 5000
MAX_Q_CHARS = 1024
MAX_ATTR_KEY_CHARS = 256
MAX_ATTR_VALUE_CHARS = 1024
MAX_ATTR_FILTERS = 20
FILTER_PARAMS = frozenset({"service", "level", "min_level", "q", "since", "until", "trace_id"})


def reject_unknown(params: QueryParams, allowed: Iterable[str]) -> None:
    """422 for a parameter the endpoint does not know (catches typos like `services=`)."""
    known = set(allowed)
    for name in params:
        if name not in known and not name.startswith("attr."):
            raise invalid_parameter(name, "unknown parameter; allowed: " + ", ".join(sorted(known)))


def parse_duration(text: str) -> timedelta:
    """`15m`, `2h`, `7d`, `30s`, `1w` → timedelta; raises ValueError."""
    match = DURATION_RE.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError("expected a positive duration like 30s, 15m, 2h, 7d or 1w")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def format_duration(delta: timedelta) -> str:
    """Shortest exact text for a duration (`300s` → `5m`)."""
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def parse_time(name: str, text: str, now: datetime) -> datetime:
    """RFC 3339, `now`, or a relative duration meaning that long before now."""
    text = text.strip()
    if text.lower() == "now":
        return now
    if DURATION_RE.fullmatch(text):
        try:
            return now - parse_duration(text)
        except (ValueError, OverflowError) as exc:
            raise invalid_parameter(name, str(exc)) from None
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise invalid_parameter(
            name, "expected RFC 3339 (2026-01-02T03:04:05Z) or a relative time like 15m, 2h, 7d"
        ) from None


def time_range(params: QueryParams, now: datetime, default_window: timedelta) -> tuple[datetime, datetime]:
    """`since`/`until` (half-open); missing ends default to the last `default_window` until now."""
    until = parse_time("until", params["until"], now) if "until" in params else now
    if "since" in params:
        since = parse_time("since", params["since"], now)
    else:
        since = until - default_window
    if since >= until:
        raise invalid_parameter("since", "must be earlier than 'until'")
    return since, until


def _levels(values: list[str], name: str) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            key = part.strip().lower()
            if key not in LEVEL_ALIASES:
                raise invalid_parameter(name, f"unknown level {part!r}; allowed: {', '.join(LEVELS)}")
            out.append(LEVEL_ALIASES[key])
    return tuple(dict.fromkeys(out))


def log_filter(params: QueryParams, now: datetime, default_window: timedelta) -> LogFilter:
    """Build the domain filter shared by search and histogram."""
    since, until = time_range(params, now, default_window)
    services: list[str] = []
    for value in params.getlist("service"):
        for part in value.split(","):
            if not SERVICE_RE.fullmatch(part):
                raise invalid_parameter("service", "must be 1-128 characters of A-Z a-z 0-9 . _ / -")
            services.append(part)
    levels = _levels(params.getlist("level"), "level")
    min_level = None
    if "min_level" in params:
        found = _levels([params["min_level"]], "min_level")
        if len(found) != 1:
            raise invalid_parameter("min_level", "give exactly one level")
        min_level = found[0]
    q = params.get("q")
    if q is not None and len(q) > MAX_Q_CHARS:
        raise invalid_parameter("q", f"longer than {MAX_Q_CHARS} characters")
    trace_id = params.get("trace_id")
    if trace_id is not None:
        if not HEX_RE.fullmatch(trace_id):
            raise invalid_parameter("trace_id", "must be a hex string of 1-64 characters")
        trace_id = trace_id.lower()
    return LogFilter(
        services=tuple(dict.fromkeys(services)),
        levels=levels,
        min_level=min_level,
        q=q if q and q.strip() else None,
        since=since,
        until=until,
        attrs=_attrs(params),
        trace_id=trace_id,
    )


def _attrs(params: QueryParams) -> tuple[tuple[str, str], ...]:
    attrs: list[tuple[str, str]] = []
    for name, value in params.multi_items():
        if not name.startswith("attr."):
            continue
        key = name[len("attr.") :]
        if not key or len(key) > MAX_ATTR_KEY_CHARS:
            raise invalid_parameter(name, f"attribute key must be 1-{MAX_ATTR_KEY_CHARS} characters")
        if len(value) > MAX_ATTR_VALUE_CHARS:
            raise invalid_parameter(name, f"value longer than {MAX_ATTR_VALUE_CHARS} characters")
        attrs.append((key, value))
    if len(attrs) > MAX_ATTR_FILTERS:
        raise invalid_parameter("attr.*", f"at most {MAX_ATTR_FILTERS} attribute filters")
    return tuple(attrs)


def histogram_interval(text: str | None, since: datetime, until: datetime) -> timedelta:
    """The requested interval (bounded bucket count) or the smallest nice one giving ≤ 120 buckets."""
    span = until - since
    if text is None:
        for interval in AUTO_INTERVALS:
            if span / interval <= TARGET_BUCKETS:
                return interval
        return AUTO_INTERVALS[-1]
    try:
        interval = parse_duration(text)
    except ValueError as exc:
        raise invalid_parameter("interval", str(exc)) from None
    if span / interval > MAX_BUCKETS:
        raise invalid_parameter(
            "interval", f"{text} gives more than {MAX_BUCKETS} buckets for this time range"
        )
    return interval


def utc_now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)
