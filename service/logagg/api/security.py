"""Authentication (Bearer or X-API-Key), scope checks and per-key rate limiting."""

from __future__ import annotations

from fastapi import Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from logagg import metrics
from logagg.api.errors import ApiError
from logagg.auth import Principal, Scope
from logagg.ratelimit import RateLimiter
from logagg.settings import Settings

bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer <api key>")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key header")


def _reject(scope: Scope, status: int, code: str, message: str, headers: dict[str, str]) -> ApiError:
    if scope is Scope.INGEST:
        reason = {401: "unauthorized", 403: "forbidden", 429: "rate_limited"}[status]
        metrics.INGEST_REJECTED.labels(reason=reason).inc()
    return ApiError(status, code, message, headers=headers)


async def authorize(
    request: Request,
    scope: Scope,
    bearer: HTTPAuthorizationCredentials | None,
    api_key: str | None,
) -> Principal:
    """Authenticate the caller, check ``scope`` and take a rate-limit token; raises ApiError."""
    settings: Settings = request.app.state.settings
    presented = bearer.credentials if bearer is not None else api_key
    challenge = {"WWW-Authenticate": 'Bearer realm="logagg"'}
    if not presented:
        raise _reject(
            scope, 401, "unauthorized", "missing API key (Authorization: Bearer or X-API-Key)", challenge
        )
    principal = settings.api_keys.authenticate(presented)
    del presented  # the plaintext is not kept beyond this check
    if principal is None:
        raise _reject(scope, 401, "unauthorized", "invalid API key", challenge)
    request.scope.setdefault("state", {})["key_id"] = principal.key_id
    if scope not in principal.scopes:
        raise _reject(scope, 403, "forbidden", f"this API key lacks the {scope.value!r} scope", {})
    limiter: RateLimiter = request.app.state.limiter
    decision = await limiter.acquire(principal.key_id)
    if not decision.allowed:
        raise _reject(
            scope,
            429,
            "rate_limited",
            "rate limit exceeded for this API key; retry later",
            {"Retry-After": str(decision.retry_after)},
        )
    return principal
