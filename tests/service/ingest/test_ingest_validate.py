"""Every field rule of POST /v1/logs records (pure validation, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from logagg.ingest.errors import ValidationFailed
from logagg.ingest.validate import (
    MAX_PROBLEMS,
    epoch_to_datetime,
    parse_rfc3339,
    validate_records,
)

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
WINDOW = (NOW - timedelta(days=14), NOW + timedelta(days=2))


def _one(record: dict[str, Any]):
    return validate_records([record], now=NOW, window=WINDOW)[0]


def _problems(records: list[Any]) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(ValidationFailed) as info:
        validate_records(records, now=NOW, window=WINDOW)
    return [(p.index, p.field, p.problem) for p in info.value.problems]


def test_minimal_record_gets_defaults_and_server_id() -> None:
    rec = _one({"service": "api", "message": "hi"})
    assert rec.ts == NOW and rec.level == "info" and rec.attributes == {}
    assert rec.client_id is False and len(rec.id) == 36 and rec.id[14] == "7"  # UUIDv7
    other = _one({"service": "api", "message": "hi"})
    assert other.id != rec.id


def test_client_id_is_kept_and_flagged() -> None:
    rec = _one({"service": "api", "message": "hi", "id": "order-42"})
    assert rec.id == "order-42" and rec.client_id is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("trace", "trace"), ("DEBUG", "debug"), ("Info", "info"), ("warn", "warn"),
        ("WARNING", "warn"), ("error", "error"), ("fatal", "fatal"), ("Critical", "fatal"),
    ],
)
def test_levels_are_normalised(raw: str, expected: str) -> None:
    assert _one({"service": "a", "message": "m", "level": raw}).level == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-30T11:00:00Z", datetime(2026, 11, 30, 11, tzinfo=UTC)),
        ("2026-11-30T13:00:00+02:00", datetime(2026, 11, 30, 11, tzinfo=UTC)),
        ("2026-11-30t11:00:00.123456789z", datetime(2026, 11, 30, 11, 0, 0, 123456, tzinfo=UTC)),
        (1_796_036_400, datetime(2026, 11, 30, 11, tzinfo=UTC)),  # seconds
        (1_796_036_400_123, datetime(2026, 11, 30, 11, 0, 0, 123000, tzinfo=UTC)),  # ms
        (1_796_036_400_123_456, datetime(2026, 11, 30, 11, 0, 0, 123456, tzinfo=UTC)),  # µs
        (1_796_036_400_123_456_789, datetime(2026, 11, 30, 11, 0, 0, 123456, tzinfo=UTC)),  # ns
    ],
)
def test_timestamps_rfc3339_and_epoch_units(raw: Any, expected: datetime) -> None:
    assert _one({"service": "a", "message": "m", "timestamp": raw}).ts == expected


def test_epoch_unit_detection_by_magnitude() -> None:
    second = datetime(2026, 11, 30, 11, tzinfo=UTC)
    s = int(second.timestamp())
    for value in (s, s * 1000, s * 1_000_000, s * 1_000_000_000):
        assert epoch_to_datetime(value) == second


@pytest.mark.parametrize(
    "raw", ["2026-11-30", "2026-11-30T11:00:00", "yesterday", "2026-13-01T00:00:00Z", True, [], {}]
)
def test_bad_timestamps_are_named(raw: Any) -> None:
    assert _problems([{"service": "a", "message": "m", "timestamp": raw}])[0][:2] == (0, "timestamp")


def test_timestamp_outside_window_gives_reason() -> None:
    old = (NOW - timedelta(days=30)).isoformat()
    future = (NOW + timedelta(days=5)).isoformat()
    problems = _problems(
        [{"service": "a", "message": "m", "timestamp": old},
         {"service": "a", "message": "m", "timestamp": future}]
    )
    assert [(p[0], p[1]) for p in problems] == [(0, "timestamp"), (1, "timestamp")]
    assert all("outside the accepted window" in p[2] for p in problems)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("service", ""), ("service", "x" * 129), ("service", "bad name"), ("service", "ü"),
        ("service", 5), ("message", 5), ("message", "é" * 40_000), ("level", "verbose"),
        ("level", 3), ("attributes", [1]), ("attributes", "x"),
        ("attributes", {"blob": "y" * 17_000}), ("trace_id", "xyz"), ("trace_id", 12),
        ("span_id", "0x12"), ("span_id", "a" * 65), ("id", ""), ("id", "i" * 129), ("id", 7),
        ("host", "unknown-field"),
    ],
)
def test_each_field_rule(field: str, value: Any) -> None:
    record = {"service": "svc", "message": "m", field: value}
    assert _problems([record]) == [(0, field, _problems([record])[0][2])]


def test_limits_are_inclusive() -> None:
    rec = _one(
        {
            "service": "a" * 128,
            "message": "é" * 32_768,  # exactly 64 KiB of UTF-8
            "attributes": {"k": "v" * (16 * 1024 - 8)},  # {"k":"..."} is exactly 16 KiB
            "id": "i" * 128,
            "trace_id": "f" * 64,
        }
    )
    assert rec.service == "a" * 128


def test_service_allows_its_character_set() -> None:
    assert _one({"service": "Team.A_b/c-1", "message": "m"}).service == "Team.A_b/c-1"


def test_required_fields_and_non_objects() -> None:
    problems = _problems([{"message": "m"}, {"service": "s"}, "text", None])
    assert [(p[0], p[1]) for p in problems] == [(0, "service"), (1, "message"), (2, None), (3, None)]


def test_atomic_every_problem_listed_with_cap() -> None:
    records = [{"service": "ok", "message": "fine"}] + [{"service": "bad name"}] * 200
    with pytest.raises(ValidationFailed) as info:
        validate_records(records, now=NOW, window=WINDOW)
    assert info.value.total == 400  # service + message for each of the 200 bad records
    assert len(info.value.problems) == MAX_PROBLEMS
    assert info.value.problems[0].index == 1


def test_parse_rfc3339_rejects_naive() -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339("2026-11-30 11:00:00")


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        ({"service": "a", "message": "nul\x00inside"}, "message", "NUL"),
        ({"service": "a", "message": "lone \ud800 surrogate"}, "message", "surrogate"),
        ({"service": "a", "message": "m", "attributes": {"k": "v\x00"}}, "attributes", "NUL"),
        ({"service": "a", "message": "m", "attributes": {"a\x00": 1}}, "attributes", "NUL"),
        ({"service": "a", "message": "m", "attributes": {"k": ["\udfff"]}}, "attributes", "surrogate"),
        ({"service": "a", "message": "m", "id": "id\x00"}, "id", "NUL"),
    ],
)
def test_text_postgresql_cannot_store_is_rejected_not_dead_lettered(
    record: dict[str, Any], field: str, words: str
) -> None:
    [(index, got_field, problem)] = _problems([record])
    assert (index, got_field) == (0, field) and words in problem


def test_escaped_looking_text_is_not_a_nul() -> None:
    # A literal backslash followed by "u0000" is ordinary text, storable as is.
    rec = _one({"service": "a", "message": "m", "attributes": {"path": "C:\\u0000"}})
    assert rec.attributes == {"path": "C:\\u0000"}
