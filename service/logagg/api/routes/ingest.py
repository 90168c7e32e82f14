"""POST /v1/logs — accept a batch once Kafka has acknowledged it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from logagg.deps import IngestPrincipal, PublisherDep, SettingsDep
from logagg.ingest.reader import check_declared_length, normalise_encoding, read_body
from logagg.ingest.service import accept_batch
from logagg.schemas import ErrorResponse, IngestAccepted

router = APIRouter(prefix="/v1", tags=["ingest"])

_RECORDS_SCHEMA = {"type": "array", "items": {"$ref": "#/components/schemas/IngestRecord"}}
_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Records as a JSON array, an object {\"logs\": [...]}, or NDJSON; "
        "optionally Content-Encoding: gzip. At most 10 000 records and 5 MiB decoded (defaults).",
        "content": {
            "application/json": {
                "schema": {"oneOf": [_RECORDS_SCHEMA, {"$ref": "#/components/schemas/IngestEnvelope"}]}
            },
            "application/x-ndjson": {
                "schema": {"type": "string", "description": "one IngestRecord JSON object per line"}
            },
        },
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "body is not valid JSON / NDJSON / gzip",
        401: "missing or invalid API key",
        403: "API key lacks the ingest scope",
        413: "too many records or bytes",
        415: "unsupported Content-Type or Content-Encoding",
        422: "validation failed; every problem names the record index and field",
        429: "rate limit exceeded (Retry-After)",
        503: "Kafka unavailable; nothing was accepted (Retry-After)",
    }.items()
}
# IngestRecord and IngestEnvelope are added to the components by logagg.app._openapi.


@router.post(
    "/logs",
    status_code=202,
    response_model=IngestAccepted,
    responses=_ERRORS,
    openapi_extra=_OPENAPI_BODY,
    summary="Ingest a batch of log records",
)
async def ingest_logs(
    request: Request, _principal: IngestPrincipal, settings: SettingsDep, publisher: PublisherDep
) -> IngestAccepted:
    """Read (bounded), validate (atomic) and publish; 202 only after Kafka acknowledged."""
    encoding = normalise_encoding(request.headers.get("content-encoding"))
    check_declared_length(request.headers.get("content-length"), encoding, settings.max_request_bytes)
    body = await read_body(request.stream(), encoding, settings.max_request_bytes)
    # Parsing, validation and the blocking Kafka client run off the event loop.
    accepted = await run_in_threadpool(
        accept_batch, body, request.headers.get("content-type"), settings, publisher
    )
    return IngestAccepted(accepted=accepted)
