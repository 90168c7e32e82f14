"""POST /v1/logs over HTTP: formats, auth, limits, validation and rate limiting (real Kafka)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from logagg.app import create_app
from logagg.settings import Settings

from tests.service.conftest import ApiKeys, auth, make_settings

RECORDS = [{"service": "fmt", "message": f"m{i}"} for i in range(3)]


def _metric(client: TestClient, name: str, labels: str = "") -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith((f"{name}{labels} ", f"{name}{{{labels}}} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (json.dumps(RECORDS).encode(), {"Content-Type": "application/json"}),
        (json.dumps({"logs": RECORDS}).encode(), {"Content-Type": "application/json"}),
        ("\n".join(json.dumps(r) for r in RECORDS).encode(), {"Content-Type": "application/x-ndjson"}),
        (
            gzip.compress(json.dumps(RECORDS).encode()),
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        ),
        (
            gzip.compress("\n".join(json.dumps(r) for r in RECORDS).encode()),
            {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
        ),
    ],
    ids=["array", "envelope", "ndjson", "gzip-json", "gzip-ndjson"],
)
def test_every_body_format_is_accepted(
    api_client: TestClient, api_keys: ApiKeys, body: bytes, headers: dict[str, str]
) -> None:
    response = api_client.post("/v1/logs", content=body, headers=headers | auth(api_keys.ingest))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 3}


def test_x_api_key_header_and_key_without_scope(api_client: TestClient, api_keys: ApiKeys) -> None:
    for headers in ({"X-API-Key": api_keys.ingest}, auth(api_keys.both)):
        assert api_client.post("/v1/logs", json=RECORDS, headers=headers).status_code == 202


def test_missing_and_wrong_key_401(api_client: TestClient, api_keys: ApiKeys) -> None:
    before = _metric(api_client, "logagg_ingest_rejected_total", 'reason="unauthorized"')
    for headers in ({}, auth("wrong-key"), {"X-API-Key": api_keys.ingest + "x"}, {"Authorization": "Basic abc"}):
        response = api_client.post("/v1/logs", json=RECORDS, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert _metric(api_client, "logagg_ingest_rejected_total", 'reason="unauthorized"') == before + 4
    for path in ("/v1/logs", "/v1/logs/histogram", "/v1/services"):
        assert api_client.get(path).status_code == 401


def test_wrong_scope_403(api_client: TestClient, api_keys: ApiKeys) -> None:
    response = api_client.post("/v1/logs", json=RECORDS, headers=auth(api_keys.query))
    assert response.status_code == 403 and "ingest" in response.json()["message"]
    response = api_client.get("/v1/logs", headers=auth(api_keys.ingest))
    assert response.status_code == 403 and "query" in response.json()["message"]


def test_too_many_records_413(api_client: TestClient, api_keys: ApiKeys) -> None:
    body = [{"service": "s", "message": "m"}] * 10_001
    response = api_client.post("/v1/logs", json=body, headers=auth(api_keys.ingest))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_too_many_bytes_413_plain_chunked_and_gzip(api_client: TestClient, api_keys: ApiKeys) -> None:
    big = json.dumps([{"service": "s", "message": "x" * 60_000}] * 90).encode()  # ~5.4 MB
    assert len(big) > 5 * 1024 * 1024
    headers = auth(api_keys.ingest) | {"Content-Type": "application/json"}
    assert api_client.post("/v1/logs", content=big, headers=headers).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    assert api_client.post("/v1/logs", content=chunks(), headers=headers).status_code == 413
    bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]")
    response = api_client.post(
        "/v1/logs", content=bomb, headers=headers | {"Content-Encoding": "gzip"}
    )
    assert response.status_code == 413


def test_validation_422_names_index_and_field(api_client: TestClient, api_keys: ApiKeys) -> None:
    body = [
        {"service": "ok", "message": "fine"},
        {"service": "bad name", "message": "m"},
        {"service": "ok", "message": "m", "level": "loud", "timestamp": "2001-01-01T00:00:00Z"},
    ]
    response = api_client.post("/v1/logs", json=body, headers=auth(api_keys.ingest))
    assert response.status_code == 422
    payload = response.json()
    assert payload["error"] == "validation_failed" and payload["total_problems"] == 3
    found = {(d["index"], d["field"]) for d in payload["details"]}
    assert found == {(1, "service"), (2, "level"), (2, "timestamp")}
    window = next(d for d in payload["details"] if d["field"] == "timestamp")
    assert "outside the accepted window" in window["problem"]


def test_bad_bodies_400_and_415(api_client: TestClient, api_keys: ApiKeys) -> None:
    headers = auth(api_keys.ingest)
    assert api_client.post("/v1/logs", content=b"[{", headers=headers).status_code == 400
    assert (
        api_client.post(
            "/v1/logs", content=b"x", headers=headers | {"Content-Encoding": "gzip"}
        ).status_code
        == 400
    )
    assert (
        api_client.post(
            "/v1/logs", content=b"a,b", headers=headers | {"Content-Type": "text/csv"}
        ).status_code
        == 415
    )
    assert (
        api_client.post(
            "/v1/logs", json=RECORDS, headers=headers | {"Content-Encoding": "br"}
        ).status_code
        == 415
    )


@pytest.fixture
def limited_client(api_settings: Settings, api_keys: ApiKeys) -> Iterator[TestClient]:
    """An app whose keys get 2 requests and then almost no refill."""
    settings = make_settings(
        api_settings.database_dsn(),
        api_settings.kafka_bootstrap_servers or "",
        api_settings.kafka_topic,
        api_keys,
        rate_limit_per_second=0.01,
        rate_limit_burst=2,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_rate_limit_429_with_retry_after_per_key(
    limited_client: TestClient, api_keys: ApiKeys
) -> None:
    headers = auth(api_keys.ingest)
    assert [limited_client.post("/v1/logs", json=RECORDS, headers=headers).status_code
            for _ in range(2)] == [202, 202]
    response = limited_client.post("/v1/logs", json=RECORDS, headers=headers)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"] == "rate_limited"
    # Buckets are per key: another key is unaffected.
    assert limited_client.post("/v1/logs", json=RECORDS, headers=auth(api_keys.both)).status_code == 202
