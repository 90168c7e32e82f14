"""Turning a decoded body (JSON array, {"logs": [...]}, or NDJSON) into raw record objects."""

from __future__ import annotations

import json
from typing import Any

from logagg.ingest.errors import (
    BadRequest,
    PayloadTooLarge,
    Problem,
    UnsupportedMediaType,
    ValidationFailed,
)

JSON_TYPES = frozenset({"application/json", "text/json"})
NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: bytes | str) -> Any:
    # NaN/Infinity are not JSON; very deep nesting raises RecursionError inside the parser.
    return json.loads(text, parse_constant=_no_constants)


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header; JSON when absent."""
    if not content_type:
        return "application/json"
    return content_type.split(";", 1)[0].strip().lower()


def parse_body(body: bytes, content_type: str | None, max_records: int) -> list[Any]:
    """Split the body into raw records; raises BadRequest / PayloadTooLarge / UnsupportedMediaType."""
    kind = media_type(content_type)
    if kind in NDJSON_TYPES:
        items = _parse_ndjson(body, max_records)
    elif kind in JSON_TYPES or kind.endswith("+json"):
        items = _parse_json(body)
    else:
        raise UnsupportedMediaType(
            f"Content-Type {kind!r} is not supported; use application/json or application/x-ndjson"
        )
    if len(items) > max_records:
        raise PayloadTooLarge(f"{len(items)} records in one request; at most {max_records} allowed")
    if not items:
        raise ValidationFailed([Problem(None, None, "the batch contains no records")], 1)
    return items


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not valid UTF-8 (byte {exc.start})") from None


def _parse_json(body: bytes) -> list[Any]:
    text = _decode(body)
    if not text.strip():
        raise BadRequest("empty body; send a JSON array of records or {\"logs\": [...]}")
    try:
        payload = _loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("invalid JSON: nested too deeply") from None
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict) and isinstance(payload.get("logs"), list):
        return payload["logs"]
    raise BadRequest('body must be a JSON array of records or an object {"logs": [...]}')


def _parse_ndjson(body: bytes, max_records: int) -> list[Any]:
    text = _decode(body)
    lines = [(number, line) for number, line in enumerate(text.split("\n"), 1) if line.strip()]
    # Count before parsing anything: the record limit must not cost a full parse.
    if len(lines) > max_records:
        raise PayloadTooLarge(f"{len(lines)} records in one request; at most {max_records} allowed")
    items: list[Any] = []
    for number, line in lines:
        try:
            items.append(_loads(line))
        except json.JSONDecodeError as exc:
            raise BadRequest(f"invalid JSON on NDJSON line {number}: {exc.msg}") from None
        except ValueError as exc:
            raise BadRequest(f"invalid JSON on NDJSON line {number}: {exc}") from None
        except RecursionError:
            raise BadRequest(f"invalid JSON on NDJSON line {number}: nested too deeply") from None
    return items
