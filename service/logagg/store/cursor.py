"""Opaque keyset cursors for search pagination: base64url JSON of the order, the last (ts, id) and
the time window of the first page.

Pinning the window matters for relative ranges: ``since=1h`` (or the API's default window) resolves
to a later instant on every request, which would otherwise cut records off the end of a walk.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from logagg.domain import InvalidCursor, Order, format_ts, parse_ts

_VERSION = 1
_INVALID = "cursor is not a value returned by this API"


@dataclass(frozen=True, slots=True)
class CursorPosition:
    """Where a page ended, and the window the walk started with."""

    ts: datetime
    id: str
    since: datetime | None
    until: datetime | None


def encode_cursor(
    order: Order, ts: datetime, record_id: str, *, since: datetime | None = None, until: datetime | None = None
) -> str:
    """The cursor that resumes a search after the row ``(ts, record_id)`` in ``order``."""
    body = {
        "v": _VERSION,
        "o": order,
        "t": format_ts(ts),
        "i": record_id,
        "s": format_ts(since) if since else None,
        "u": format_ts(until) if until else None,
    }
    raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _optional_ts(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCursor(_INVALID)
    return parse_ts(value)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        return False
    return True


def decode_cursor(cursor: str, order: Order) -> CursorPosition:
    """The position in ``cursor``; raises ``InvalidCursor`` on any defect or an order mismatch."""
    if not cursor or len(cursor) > 2048:
        raise InvalidCursor("cursor is empty or too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor(_INVALID) from None
    if not isinstance(body, dict) or body.get("v") != _VERSION:
        raise InvalidCursor(_INVALID)
    if body.get("o") != order:
        raise InvalidCursor(f"cursor was issued for order={body.get('o')!r}, not order={order!r}")
    ts_text, record_id = body.get("t"), body.get("i")
    if not isinstance(ts_text, str) or not isinstance(record_id, str) or not record_id:
        raise InvalidCursor(_INVALID)
    if "\x00" in record_id or not _utf8(record_id):  # no stored id has these: a forged cursor
        raise InvalidCursor(_INVALID)
    try:
        return CursorPosition(parse_ts(ts_text), record_id, _optional_ts(body.get("s")), _optional_ts(body.get("u")))
    except ValueError:
        raise InvalidCursor(_INVALID) from None
