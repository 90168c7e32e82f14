"""The Kafka message format (docs/architecture.md): round trip and a clear error for every defect."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from logagg.domain import (
    InvalidBatch,
    LogRecord,
    decode_batch,
    encode_batch,
    ingest_window,
)


def _record(**overrides: object) -> LogRecord:
    fields: dict[str, object] = {
        "id": "r1",
        "ts": datetime(2026, 11, 30, 1, 2, 3, 4, tzinfo=UTC),
        "service": "api",
        "level": "warn",
        "message": "héllo \u2603",
        "attributes": {"a": {"b": [1, 2]}, "n": None},
        "trace_id": "abc",
        "span_id": None,
        "client_id": True,
    }
    fields.update(overrides)
    return LogRecord(**fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field() -> None:
    records = [_record(), _record(id="r2", client_id=False, attributes={})]
    value = encode_batch(records)
    envelope = json.loads(value)
    assert envelope["v"] == 1
    assert envelope["records"][0]["ts"] == "2026-11-30T01:02:03.000004Z"
    assert decode_batch(value) == records


@pytest.mark.parametrize(
    "attributes",
    [{"big": 2**70, "neg": -(2**64) - 1, "nested": [2**65]}, {"max_u64": 2**64 - 1, "min_i64": -(2**63)}],
)
def test_integers_of_any_size_survive_exactly(attributes: dict[str, object]) -> None:
    records = [_record(attributes=attributes)]
    assert decode_batch(encode_batch(records)) == records


def test_timestamps_with_offsets_are_normalised_to_utc() -> None:
    wire = _record().to_wire() | {"ts": "2026-11-30T03:02:03.000004+02:00"}
    [decoded] = decode_batch(json.dumps({"v": 1, "records": [wire]}).encode())
    assert decoded.ts == datetime(2026, 11, 30, 1, 2, 3, 4, tzinfo=UTC)
    assert decoded.ts.tzinfo == UTC
    assert _record(ts=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5)))).to_wire()["ts"] == (
        "2026-01-01T05:00:00.000000Z"
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "tombstone"),
        (b"\xff", "not UTF-8 JSON"),
        (b"{", "not UTF-8 JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"v": 2, "records": []}', "unsupported envelope version"),
        (b'{"v": 1}', "'records' must be a list"),
        (b'{"v": 1, "records": [1]}', r"records\[0\]: record must be an object"),
    ],
)
def test_bad_envelopes_are_rejected_with_the_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidBatch, match=reason):
        decode_batch(value)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": ""}, "must not be empty"),
        ({"service": 5}, "'service' must be a string"),
        ({"level": "loud"}, "'level' must be one of"),
        ({"ts": "yesterday"}, "'ts' is not an RFC 3339"),
        ({"ts": "2026-11-30T01:02:03"}, "no UTC offset"),
        ({"attributes": [1]}, "'attributes' must be an object"),
        ({"trace_id": 7}, "'trace_id' must be a string or null"),
        ({"client_id": "yes"}, "'client_id' must be a boolean"),
    ],
)
def test_bad_records_name_the_index_and_field(change: dict[str, object], reason: str) -> None:
    good = _record().to_wire()
    value = json.dumps({"v": 1, "records": [good, good | change]}).encode()
    with pytest.raises(InvalidBatch, match=r"records\[1\]: .*" + reason.replace("(", r"\(")):
        decode_batch(value)


def test_ingest_window_spans_retention_back_and_partition_days_ahead() -> None:
    class _Settings:
        retention_days = 14
        partition_days_ahead = 2

    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert ingest_window(now, _Settings()) == (now - timedelta(days=14), now + timedelta(days=2))
