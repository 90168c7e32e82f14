"""Query-parameter parsing (pure): durations, relative times, intervals, unknown parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from logagg.api.errors import ApiError
from logagg.api.params import (
    format_duration,
    histogram_interval,
    log_filter,
    parse_duration,
    reject_unknown,
    time_range,
)
from starlette.datastructures import QueryParams

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1w", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["0m", "5", "m", "1.5h", "-1h", "1y", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="positive duration"):
        parse_duration(text)


def test_format_duration_picks_the_largest_exact_unit() -> None:
    assert [format_duration(timedelta(seconds=s)) for s in (30, 300, 5400, 86400, 90)] == [
        "30s", "5m", "90m", "1d", "90s"]


def test_time_range_defaults_and_relative_forms() -> None:
    assert time_range(QueryParams(""), NOW, HOUR) == (NOW - HOUR, NOW)
    assert time_range(QueryParams("since=2h&until=30m"), NOW, HOUR) == (
        NOW - 2 * HOUR, NOW - timedelta(minutes=30))
    assert time_range(QueryParams("until=2026-11-30T10:00:00Z"), NOW, HOUR) == (
        NOW - 3 * HOUR, NOW - 2 * HOUR)
    assert time_range(QueryParams("since=2026-11-30T13:00:00%2B02:00&until=now"), NOW, HOUR) == (
        NOW - HOUR, NOW)


def test_filter_normalises_levels_services_and_attrs() -> None:
    flt = log_filter(
        QueryParams("service=a&service=b,c&level=WARNING&level=critical&min_level=Warn"
                    "&attr.http.status=500&attr.user=u1&trace_id=ABC&q=%20"),
        NOW, HOUR,
    )
    assert flt.services == ("a", "b", "c")
    assert flt.levels == ("warn", "fatal") and flt.min_level == "warn"
    assert flt.attrs == (("http.status", "500"), ("user", "u1"))
    assert flt.trace_id == "abc" and flt.q is None


def test_automatic_interval_targets_at_most_120_buckets() -> None:
    for span, expected in [(timedelta(minutes=1), "1s"), (HOUR, "30s"), (timedelta(days=1), "15m"),
                           (timedelta(days=7), "3h"), (timedelta(days=400), "1w")]:
        assert format_duration(histogram_interval(None, NOW - span, NOW)) == expected


def test_unknown_parameter_is_named() -> None:
    reject_unknown(QueryParams("service=a&attr.x=1"), {"service"})
    with pytest.raises(ApiError) as info:
        reject_unknown(QueryParams("servcie=a"), {"service"})
    assert info.value.status == 422 and "servcie" in info.value.message
