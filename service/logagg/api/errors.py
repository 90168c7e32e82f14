"""Mapping every failure to a JSON ErrorResponse (never a stack trace in a body)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from logagg import metrics
from logagg.domain import InvalidCursor, TooManyBuckets
from logagg.ingest.errors import (
    BadRequest,
    IngestRejected,
    KafkaUnavailable,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from logagg.schemas import ErrorDetail, ErrorResponse

log = logging.getLogger(__name__)

#: Seconds clients should wait after a 503 caused by an unavailable dependency.
RETRY_AFTER_UNAVAILABLE = 5

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error with its HTTP status, machine code and user message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[ErrorDetail] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = dict(headers or {})


def invalid_parameter(name: str, problem: str) -> ApiError:
    """422 naming the query parameter."""
    return ApiError(
        422,
        "invalid_parameter",
        f"query parameter {name!r}: {problem}",
        details=[ErrorDetail(field=name, problem=problem)],
    )


def error_response(
    request: Request | None,
    status: int,
    code: str,
    message: str,
    *,
    details: list[ErrorDetail] | None = None,
    total: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Build the JSON error body."""
    request_id = None
    if request is not None:
        request_id = request.scope.get("state", {}).get("request_id")
    body = ErrorResponse(
        error=code, message=message, details=details or [], total_problems=total, request_id=request_id
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(
        request, exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers
    )


async def _ingest_rejected(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IngestRejected)
    metrics.INGEST_REJECTED.labels(reason=exc.reason).inc()
    if isinstance(exc, ValidationFailed):
        details = [ErrorDetail(index=p.index, field=p.field, problem=p.problem) for p in exc.problems]
        return error_response(
            request, 422, "validation_failed", exc.message, details=details, total=exc.total
        )
    if isinstance(exc, KafkaUnavailable):
        return error_response(
            request,
            503,
            "kafka_unavailable",
            exc.message,
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )
    status, code = 400, "bad_request"
    if isinstance(exc, PayloadTooLarge):
        status, code = 413, "payload_too_large"
    elif isinstance(exc, UnsupportedMediaType):
        status, code = 415, "unsupported_media_type"
    elif not isinstance(exc, BadRequest):
        log.error("unmapped ingest rejection %s", type(exc).__name__)
    return error_response(request, status, code, exc.message)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(request, exc.status_code, code, message, headers=exc.headers)


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = []
    for err in exc.errors()[:50]:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("query", "header", "body")]
        details.append(ErrorDetail(field=".".join(loc) or None, problem=str(err.get("msg"))))
    if len(details) == 1 and details[0].field:
        message = f"query parameter {details[0].field!r}: {details[0].problem}"
    else:
        names = ", ".join(sorted({d.field for d in details if d.field})) or "request"
        message = f"invalid value for {names}"
    return error_response(request, 422, "invalid_parameter", message, details=details)


def _bad_parameter(field: str, code: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """A 400 handler for a domain error about one query parameter (the error says the problem)."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return error_response(
            request,
            400,
            code,
            f"query parameter {field!r}: {exc}",
            details=[ErrorDetail(field=field, problem=str(exc))],
        )

    return handler


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, psycopg.errors.QueryCanceled):
        log.warning("query cancelled by statement_timeout")
        return error_response(
            request,
            503,
            "query_timeout",
            "the query took too long; narrow the time range or add filters",
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )
    log.warning("database unavailable", extra={"error": type(exc).__name__})
    return error_response(
        request,
        503,
        "database_unavailable",
        "PostgreSQL is unavailable; retry later",
        headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
    )


async def _client_disconnect(request: Request, exc: Exception) -> JSONResponse:
    # The client is gone (nobody reads this answer); not a server error worth a traceback.
    log.info("client disconnected while sending the body")
    return error_response(request, 400, "bad_request", "client disconnected before the body ended")


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on the app (unexpected exceptions: see the middleware)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(IngestRejected, _ingest_rejected)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(InvalidCursor, _bad_parameter("cursor", "invalid_cursor"))
    app.add_exception_handler(TooManyBuckets, _bad_parameter("interval", "invalid_parameter"))
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
