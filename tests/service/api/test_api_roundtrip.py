"""Ingest over HTTP → Kafka → consumer → PostgreSQL → query over HTTP (everything real)."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from logagg.settings import Settings

from tests.service.conftest import ApiKeys, auth, fetch_all, wait_for


def _service() -> str:
    return f"rt-{uuid.uuid4().hex[:10]}"


def test_ingest_then_query_round_trip(
    api_client: TestClient, api_keys: ApiKeys, pipeline_consumer: None
) -> None:
    service = _service()
    now = datetime.now(UTC).replace(microsecond=123456)
    records = [
        {
            "service": service,
            "message": f"hello {i}",
            "timestamp": (now - timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            "level": "WARNING" if i % 2 else "info",
            "attributes": {"n": i, "http": {"status": 500 if i == 3 else 200}},
            "trace_id": "ABCDEF0123456789",
            "span_id": "0a1b",
        }
        for i in range(5)
    ]
    response = api_client.post("/v1/logs", json=records, headers=auth(api_keys.ingest))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 5}

    def stored() -> list[dict]:
        return fetch_all(api_client, api_keys.query, {"service": service, "since": "10m"})

    assert wait_for(lambda: len(stored()) == 5)
    items = stored()
    assert [i["message"] for i in items] == [f"hello {i}" for i in range(5)]  # newest first
    first = items[0]
    assert first["timestamp"] == now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert first["level"] == "info" and items[1]["level"] == "warn"
    assert first["trace_id"] == "abcdef0123456789" and first["span_id"] == "0a1b"
    assert first["attributes"] == {"n": 0, "http": {"status": 200}}
    assert len({i["id"] for i in items}) == 5  # server-generated ids are unique


def test_large_batch_is_split_into_messages_and_fully_stored(
    api_client: TestClient, api_keys: ApiKeys, api_settings: Settings, pipeline_consumer: None
) -> None:
    service = _service()
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    records = [{"service": service, "message": f"{i:06d} " + "x" * 500, "timestamp": ts}
               for i in range(6000)]
    body = json.dumps(records).encode()
    assert len(body) > 3 * api_settings.kafka_max_message_bytes  # needs several Kafka messages
    headers = auth(api_keys.ingest) | {"Content-Type": "application/json"}
    response = api_client.post("/v1/logs", content=gzip.compress(body),
                               headers=headers | {"Content-Encoding": "gzip"})
    assert response.status_code == 202 and response.json() == {"accepted": 6000}

    def stored() -> int:
        body = api_client.get("/v1/services", params={"since": "10m"},
                              headers=auth(api_keys.query)).json()
        return sum(s["count"] for s in body["services"] if s["service"] == service)

    assert wait_for(lambda: stored() == 6000, timeout=90)
