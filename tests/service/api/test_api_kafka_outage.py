"""Kafka stopped → 503 with Retry-After (never 202); restarted → 202, and nothing is lost."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.localsvc import KafkaBroker
from tests.service.conftest import ApiKeys, auth, fetch_all, wait_for


def _batch(service: str, tag: str, n: int) -> list[dict[str, str]]:
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [{"id": f"{service}-{tag}-{i}", "service": service, "message": tag, "timestamp": ts}
            for i in range(n)]


def test_kafka_down_gives_503_then_recovers_without_loss(
    api_client: TestClient, api_keys: ApiKeys, kafka_broker: KafkaBroker, pipeline_consumer: None
) -> None:
    service = f"outage-{uuid.uuid4().hex[:8]}"
    before, during = _batch(service, "before", 50), _batch(service, "during", 50)
    headers = auth(api_keys.ingest)
    assert api_client.post("/v1/logs", json=before, headers=headers).status_code == 202

    kafka_broker.stop()
    try:
        response = api_client.post("/v1/logs", json=during, headers=headers)
        assert response.status_code == 503, response.text
        assert int(response.headers["Retry-After"]) > 0
        assert response.json()["error"] == "kafka_unavailable"
        ready = api_client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"postgresql": "ok", "kafka": "unavailable"}
        assert api_client.get("/health").status_code == 200
    finally:
        kafka_broker.start()

    # The client retries as told; every answer is either 503 (still reconnecting) or 202.
    statuses: list[int] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        statuses.append(api_client.post("/v1/logs", json=during, headers=headers).status_code)
        if statuses[-1] != 503:
            break
        time.sleep(1)
    assert statuses[-1] == 202 and set(statuses) <= {202, 503}, statuses
    assert wait_for(lambda: api_client.get("/health/ready").status_code == 200, timeout=30)

    params = [("service", service), ("since", "15m")]
    assert wait_for(lambda: len(fetch_all(api_client, api_keys.query, params)) >= 100, timeout=90)
    ids = [i["id"] for i in fetch_all(api_client, api_keys.query, params)]
    assert sorted(ids) == sorted(r["id"] for r in before + during)  # none lost, none twice
