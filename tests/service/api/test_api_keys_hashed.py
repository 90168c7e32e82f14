"""API keys: only digests in memory after start-up, never in logs, scopes enforced."""

from __future__ import annotations

import gc
import logging
import os
import types
from collections import deque
from typing import Any

import pytest
from fastapi.testclient import TestClient
from logagg.app import create_app
from logagg.auth import KeyRing, Scope, fingerprint
from logagg.settings import get_settings

from tests.service.conftest import ApiKeys, auth

_SKIP = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType, type,
         types.FrameType)


def _reachable_containing(roots: list[Any], secret: str, limit: int = 500_000) -> list[str]:
    """Types of objects reachable from roots (not via modules/code/classes) containing secret."""
    needle_b = secret.encode()
    seen: dict[int, Any] = {}  # keeps each object alive, so its id cannot be reused meanwhile
    queue: deque[Any] = deque(roots)
    hits: list[str] = []
    while queue and len(seen) < limit:
        obj = queue.popleft()
        if id(obj) in seen or isinstance(obj, _SKIP):
            continue
        seen[id(obj)] = obj
        if isinstance(obj, str):
            if secret in obj:
                hits.append(f"str:{obj[:20]}...")
            continue
        if isinstance(obj, bytes | bytearray | memoryview):
            if needle_b in bytes(obj):
                hits.append(type(obj).__name__)
            continue
        queue.extend(gc.get_referents(obj))
        if isinstance(obj, dict):  # gc skips the str keys of str-keyed dicts
            queue.extend(obj.keys())
        # Python 3.11 keeps instance attributes inline; gc does not always report the dict.
        attributes = getattr(obj, "__dict__", None)
        if isinstance(attributes, dict):
            queue.append(attributes)
        for slot in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, slot):
                queue.append(getattr(obj, slot))
    return hits


def test_no_plaintext_key_in_app_objects_env_or_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    api_dsn: str, kafka_bootstrap: str, api_topic: str, api_keys: ApiKeys,
) -> None:
    # Configure the way production does: environment → get_settings() → create_app().
    monkeypatch.setenv("LOGAGG_API_KEYS", api_keys.config())
    monkeypatch.setenv("LOGAGG_DATABASE_URL", api_dsn)
    monkeypatch.setenv("LOGAGG_KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("LOGAGG_KAFKA_TOPIC", api_topic)
    get_settings.cache_clear()
    caplog.set_level(logging.DEBUG)
    try:
        app = create_app()
        with TestClient(app, raise_server_exceptions=False) as client:
            assert "LOGAGG_API_KEYS" not in os.environ  # dropped once hashed
            record = [{"service": "keys", "message": "m"}]
            assert client.post("/v1/logs", json=record, headers=auth(api_keys.ingest)).status_code == 202
            assert client.get("/v1/services", headers={"X-API-Key": api_keys.query}).status_code == 200
            assert client.get("/v1/services", headers=auth(api_keys.ingest)).status_code == 403
            assert client.get("/v1/services", headers=auth(api_keys.both + "x")).status_code == 401
            roots = [app, app.state, get_settings(), client.app]
            # The scanner itself finds a planted secret deep inside the app's state and slots.
            canary = "canary-" + api_keys.both[::-1]
            app.state.limiter._buckets[canary + "x"] = (1.0, 0.0)
            assert _reachable_containing(roots, canary)
            del app.state.limiter._buckets[canary + "x"]
            # ...and it sees through pydantic models and SecretStr: the DSN *is* kept in settings.
            assert _reachable_containing(roots, api_dsn)
            for key in (api_keys.ingest, api_keys.query, api_keys.both):
                assert _reachable_containing(roots, key) == []
                for rec in caplog.records:
                    assert key not in rec.getMessage()
                    assert key not in repr(rec.__dict__)
                assert key not in caplog.text
            # What the logs do carry is the non-secret fingerprint.
            assert any(getattr(r, "key_id", None) == fingerprint(api_keys.ingest) for r in caplog.records)
    finally:
        get_settings.cache_clear()


def test_key_ring_parsing_scopes_and_constant_time_api() -> None:
    ring = KeyRing.parse("alpha-key-000001:ingest, beta-key-0000001:query+ingest\n# note\ngamma-key-000001")
    assert len(ring) == 3
    alpha = ring.authenticate("alpha-key-000001")
    assert alpha is not None and alpha.scopes == {Scope.INGEST}
    beta = ring.authenticate("beta-key-0000001")
    assert beta is not None and beta.scopes == {Scope.INGEST, Scope.QUERY}
    gamma = ring.authenticate("gamma-key-000001")
    assert gamma is not None and gamma.scopes == {Scope.INGEST, Scope.QUERY}  # no scope = both
    assert ring.authenticate("alpha-key-00000") is None
    assert ring.authenticate("") is None
    assert "alpha" not in repr(ring)
    # Two rings of the same keys use different peppers: digests are not comparable offline.
    other = KeyRing.parse("alpha-key-000001")
    assert other._keys[0].digest != ring._keys[0].digest
