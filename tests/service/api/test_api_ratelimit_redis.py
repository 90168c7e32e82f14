"""LOGAGG_REDIS_URL: two API replicas draw from one bucket per key in a real Redis."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from logagg.app import create_app
from logagg.ratelimit import RedisTokenBucketLimiter
from logagg.settings import Settings

from tests.service.conftest import ApiKeys, RedisServer, auth, make_settings


def _replica(base: Settings, keys: ApiKeys, redis_url: str) -> TestClient:
    settings = make_settings(
        base.database_dsn(), base.kafka_bootstrap_servers or "", base.kafka_topic, keys,
        redis_url=redis_url, rate_limit_per_second=0.01, rate_limit_burst=3,
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


def test_replicas_share_one_bucket_per_key(
    api_settings: Settings, api_keys: ApiKeys, redis_server: RedisServer
) -> None:
    url = redis_server.url.replace("/0", "/1")  # a database of its own: fresh buckets
    with _replica(api_settings, api_keys, url) as one, _replica(api_settings, api_keys, url) as two:
        assert isinstance(one.app.state.limiter, RedisTokenBucketLimiter)  # type: ignore[attr-defined]
        headers = auth(api_keys.query)
        statuses = [client.get("/v1/services", headers=headers).status_code
                    for client in (one, two, one, two)]
        assert statuses == [200, 200, 200, 429]  # 3 tokens in total, not 3 per replica
        denied = two.get("/v1/services", headers=headers)
        assert denied.status_code == 429 and int(denied.headers["Retry-After"]) >= 1
        assert one.get("/v1/services", headers=auth(api_keys.both)).status_code == 200  # per key


def test_redis_outage_fails_open(
    api_settings: Settings, api_keys: ApiKeys, redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = redis_server.url.replace("/0", "/2")
    with _replica(api_settings, api_keys, url) as client:
        headers = auth(api_keys.query)
        redis_server.stop()
        try:
            # Rate limiting must not turn a Redis outage into an API outage.
            assert [client.get("/v1/services", headers=headers).status_code for _ in range(5)] == [200] * 5
        finally:
            redis_server.start()
        assert any("Redis unavailable" in r.getMessage() for r in caplog.records)
        statuses = [client.get("/v1/services", headers=headers).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]  # enforced again once Redis is back
