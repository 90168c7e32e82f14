"""Body formats, size limits while reading, gzip (incl. bombs) and Kafka chunking (pure, no I/O)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from logagg.domain import LogRecord, decode_batch
from logagg.ingest.errors import (
    BadRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from logagg.ingest.ids import new_record_id
from logagg.ingest.parse import parse_body
from logagg.ingest.publisher import chunk_messages
from logagg.ingest.reader import check_declared_length, normalise_encoding, read_body


async def _stream(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _read(data: bytes, encoding: str, limit: int) -> bytes:
    return asyncio.run(read_body(_stream(data), encoding, limit))


def test_json_array_envelope_and_ndjson() -> None:
    recs = [{"service": "a", "message": str(i)} for i in range(3)]
    assert parse_body(json.dumps(recs).encode(), "application/json", 10) == recs
    assert parse_body(json.dumps({"logs": recs}).encode(), "application/json; charset=utf-8", 10) == recs
    nd = ("\n".join(json.dumps(r) for r in recs) + "\n\n").encode()
    assert parse_body(nd, "application/x-ndjson", 10) == recs
    assert parse_body(json.dumps(recs).encode(), None, 10) == recs  # no Content-Type: JSON


@pytest.mark.parametrize(
    ("body", "ctype", "error"),
    [
        (b"[", "application/json", BadRequest),
        (b'{"records": []}', "application/json", BadRequest),
        (b"\xff\xfe", "application/json", BadRequest),
        (b"[NaN]", "application/json", BadRequest),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", BadRequest),
        (b'{"a":1}\n{oops', "application/x-ndjson", BadRequest),
        (b"[]", "application/json", ValidationFailed),
        (b"a,b", "text/csv", UnsupportedMediaType),
    ],
)
def test_malformed_bodies(body: bytes, ctype: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_body(body, ctype, 10)


def test_record_limit_json_and_ndjson() -> None:
    recs = [{"service": "a", "message": "m"}] * 11
    with pytest.raises(PayloadTooLarge, match="11 records"):
        parse_body(json.dumps(recs).encode(), "application/json", 10)
    with pytest.raises(PayloadTooLarge):
        parse_body(b"{}\n" * 11, "application/x-ndjson", 10)
    # NDJSON is counted before parsing: eleven unparseable lines still give 413, not 400.
    with pytest.raises(PayloadTooLarge):
        parse_body(b"not json\n" * 11, "application/x-ndjson", 10)


def test_plain_body_limit_enforced_while_reading() -> None:
    assert _read(b"x" * 1000, "identity", 1000) == b"x" * 1000
    with pytest.raises(PayloadTooLarge):
        _read(b"x" * 1001, "identity", 1000)


def test_gzip_round_trip_and_concatenated_members() -> None:
    data = json.dumps([{"service": "a", "message": "m" * 100}] * 50).encode()
    assert _read(gzip.compress(data), "gzip", len(data)) == data
    assert _read(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 100) == b"abcd"


def test_gzip_bomb_is_refused_after_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)  # ~200 KiB → 200 MiB
    assert len(bomb) < 1024 * 1024
    with pytest.raises(PayloadTooLarge):
        _read(bomb, "gzip", 5 * 1024 * 1024)


@pytest.mark.parametrize("data", [b"not gzip at all", gzip.compress(b"x" * 1000)[:-10]])
def test_bad_or_truncated_gzip(data: bytes) -> None:
    with pytest.raises(BadRequest):
        _read(data, "gzip", 10_000)


def test_encodings_and_declared_length() -> None:
    assert normalise_encoding(None) == "identity"
    assert normalise_encoding("GZIP") == "gzip"
    with pytest.raises(UnsupportedMediaType):
        normalise_encoding("br")
    check_declared_length("1000", "identity", 1000)
    with pytest.raises(PayloadTooLarge):
        check_declared_length("1001", "identity", 1000)
    with pytest.raises(BadRequest):
        check_declared_length("lots", "identity", 1000)


def test_chunks_respect_size_and_keep_every_record_in_order() -> None:
    now = datetime.now(UTC)
    records = [
        LogRecord(id=new_record_id(), ts=now, service="s", level="info", message="m" * 500)
        for _ in range(5000)
    ]
    chunks = chunk_messages(records, 100_000)
    assert len(chunks) > 1
    assert all(len(c) <= 100_000 for c in chunks)
    decoded = [r for c in chunks for r in decode_batch(c)]
    assert [r.id for r in decoded] == [r.id for r in records]
    small = chunk_messages(records[:3], 100_000)
    assert len(small) == 1 and len(decode_batch(small[0])) == 3  # a small batch is one message


def test_server_ids_are_unique_and_time_ordered() -> None:
    ids = [new_record_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert ids[0][:8] <= ids[-1][:8]
