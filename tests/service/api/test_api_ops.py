"""Health, readiness, metrics, OpenAPI, security headers and error bodies."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from logagg.app import create_app
from logagg.settings import Settings

from tests.localsvc import PostgresServer
from tests.service.conftest import ApiKeys, auth, make_settings, wait_for


def _closed_port() -> int:
    """A local port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture
def no_kafka_client(api_settings: Settings, api_keys: ApiKeys) -> Iterator[TestClient]:
    """The app with a working PostgreSQL but a Kafka address where nothing listens."""
    settings = make_settings(
        api_settings.database_dsn(), f"127.0.0.1:{_closed_port()}", "logs", api_keys,
        kafka_produce_timeout_seconds=2.0,
    )
    with _client(settings) as client:
        yield client


@pytest.fixture
def nothing_client(api_keys: ApiKeys) -> Iterator[TestClient]:
    """The app with neither PostgreSQL nor Kafka reachable (it must still start and be live)."""
    settings = make_settings(
        f"postgresql://logagg:pw@127.0.0.1:{_closed_port()}/logagg?connect_timeout=1",
        f"127.0.0.1:{_closed_port()}", "logs", api_keys, kafka_produce_timeout_seconds=2.0,
    )
    with _client(settings) as client:
        yield client


def test_liveness_needs_no_dependencies(nothing_client: TestClient) -> None:
    response = nothing_client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readiness_ok_and_naming_what_failed(
    api_client: TestClient, no_kafka_client: TestClient, nothing_client: TestClient
) -> None:
    ok = api_client.get("/health/ready")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ready", "checks": {"postgresql": "ok", "kafka": "ok"}}
    no_kafka = no_kafka_client.get("/health/ready")
    assert no_kafka.status_code == 503
    assert no_kafka.json()["checks"] == {"postgresql": "ok", "kafka": "unavailable"}
    nothing = nothing_client.get("/health/ready")
    assert nothing.status_code == 503
    assert nothing.json()["checks"] == {"postgresql": "unavailable", "kafka": "unavailable"}


def test_unreachable_kafka_is_503_never_202(no_kafka_client: TestClient, api_keys: ApiKeys) -> None:
    response = no_kafka_client.post(
        "/v1/logs", json=[{"service": "s", "message": "m"}], headers=auth(api_keys.ingest)
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"] == "kafka_unavailable"


def test_unreachable_database_is_503(nothing_client: TestClient, api_keys: ApiKeys) -> None:
    response = nothing_client.get("/v1/logs", headers=auth(api_keys.query))
    assert response.status_code == 503
    assert response.json()["error"] == "database_unavailable"
    assert "Retry-After" in response.headers


METRICS = [
    "logagg_http_requests_total", "logagg_http_request_duration_seconds",
    "logagg_ingest_records_total", "logagg_ingest_bytes_total", "logagg_ingest_batches_total",
    "logagg_ingest_rejected_total", "logagg_kafka_produce_duration_seconds",
    "logagg_query_duration_seconds", "logagg_db_pool_size", "logagg_db_pool_in_use",
    "logagg_db_up", "logagg_kafka_up",
]


def test_metrics_exposes_the_contract_names(api_client: TestClient, api_keys: ApiKeys) -> None:
    api_client.post("/v1/logs", json=[{"service": "m", "message": "m"}], headers=auth(api_keys.ingest))
    api_client.get("/v1/logs", headers=auth(api_keys.query))
    api_client.get("/health/ready")
    response = api_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in METRICS:
        assert f"# TYPE {name} " in text or f"# TYPE {name.removesuffix('_total')} " in text, name
    for reason in ("validation", "too_large", "unauthorized", "forbidden", "rate_limited",
                   "kafka_unavailable", "bad_request"):
        assert f'logagg_ingest_rejected_total{{reason="{reason}"}}' in text
    assert 'logagg_http_requests_total{method="POST",route="/v1/logs",status="202"}' in text
    assert 'logagg_query_duration_seconds_count{endpoint="search"}' in text
    assert "logagg_db_up 1.0" in text and "logagg_kafka_up 1.0" in text
    # Unknown paths share one label value (no cardinality explosion from scanners).
    api_client.get("/no/such/path/123")
    assert 'route="unmatched"' in api_client.get("/metrics").text


def test_openapi_documents_every_endpoint_with_models(api_client: TestClient) -> None:
    spec = api_client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("IngestRecord", "IngestEnvelope", "IngestAccepted", "ErrorResponse", "LogPage",
                 "LogItem", "Histogram", "ServiceList", "Liveness", "Readiness"):
        assert name in schemas, name
    expected = {
        ("/v1/logs", "post"): "IngestAccepted", ("/v1/logs", "get"): "LogPage",
        ("/v1/logs/histogram", "get"): "Histogram", ("/v1/services", "get"): "ServiceList",
        ("/health", "get"): "Liveness", ("/health/ready", "get"): "Readiness",
    }
    for (path, method), model in expected.items():
        operation = spec["paths"][path][method]
        ok = next(v for k, v in operation["responses"].items() if k.startswith("2"))
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith(f"/{model}")
        if path.startswith("/v1/"):
            assert operation["security"]
            for code in ("401", "403", "429"):
                ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse")
    body = spec["paths"]["/v1/logs"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-ndjson"}
    assert "/metrics" in spec["paths"]
    search_params = {p["name"] for p in spec["paths"]["/v1/logs"]["get"]["parameters"]}
    assert {"service", "level", "min_level", "q", "since", "until", "trace_id", "limit", "order",
            "cursor"} <= search_params


@pytest.mark.parametrize(("method", "path"), [("get", "/health"), ("get", "/v1/logs"),
                                              ("get", "/nowhere"), ("post", "/health")])
def test_security_headers_on_every_response(api_client: TestClient, method: str, path: str) -> None:
    response = api_client.request(method, path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "server" not in response.headers or "uvicorn" not in response.headers["server"]
    assert response.headers["x-request-id"]
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) >= {"error", "message"}


def test_internal_errors_have_no_stack_trace(
    api_settings: Settings, api_keys: ApiKeys, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenPool:
        """Stands in for a pool that hits a programming error (the error boundary is tested)."""

        def connection(self, **_: object) -> None:
            raise RuntimeError("internal detail: /etc/secret path")

        def close(self) -> None:
            """Nothing to close."""

    with _client(api_settings) as client:
        real_pool = client.app.state.pool  # type: ignore[attr-defined]
        client.app.state.pool = BrokenPool()  # type: ignore[attr-defined]
        try:
            response = client.get("/v1/logs", headers={"X-Request-ID": "req-123", **auth(api_keys.query)})
        finally:
            client.app.state.pool = real_pool  # type: ignore[attr-defined]
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "message": "internal server error",
                               "request_id": "req-123"}
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    # ...but the server log has the traceback, tied to the request id.
    logged = [r for r in caplog.records if r.name == "logagg.errors"]
    assert logged and logged[0].exc_info is not None and logged[0].request_id == "req-123"  # type: ignore[attr-defined]


def test_database_restart_gives_503_then_recovers(
    api_client: TestClient, api_keys: ApiKeys, pg_server: PostgresServer | None
) -> None:
    if pg_server is None:
        pytest.skip("DATABASE_URL points at an external server; this test restarts the local one")
    headers = auth(api_keys.query)
    assert api_client.get("/v1/services", headers=headers).status_code == 200
    pg_server.stop()
    try:
        down = api_client.get("/v1/services", headers=headers)
        assert down.status_code == 503 and down.json()["error"] == "database_unavailable"
        ready = api_client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["postgresql"] == "unavailable"
    finally:
        pg_server.start()
    # Connections broken by the restart are replaced; no request after recovery fails.
    assert wait_for(lambda: api_client.get("/v1/services", headers=headers).status_code == 200)
    assert all(api_client.get("/v1/services", headers=headers).status_code == 200 for _ in range(5))
