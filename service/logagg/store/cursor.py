"""Opaque keyset cursors for search pagination: base64url JSON of (order, ts, id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from logagg.domain import InvalidCursor, Order, format_ts, parse_ts

_VERSION = 1


def encode_cursor(order: Order, ts: datetime, record_id: str) -> str:
    """The cursor that resumes a search after the row ``(ts, record_id)`` in ``order``."""
    body = json.dumps({"v": _VERSION, "o": order, "t": format_ts(ts), "i": record_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, order: Order) -> tuple[datetime, str]:
    """The ``(ts, id)`` position in ``cursor``; raises ``InvalidCursor`` on any defect or order mismatch."""
    if not cursor or len(cursor) > 2048:
        raise InvalidCursor("cursor is empty or too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("cursor is not a value returned by this API") from None
    if not isinstance(body, dict) or body.get("v") != _VERSION:
        raise InvalidCursor("cursor is not a value returned by this API")
    if body.get("o") != order:
        raise InvalidCursor(f"cursor was issued for order={body.get('o')!r}, not order={order!r}")
    ts_text, record_id = body.get("t"), body.get("i")
    if not isinstance(ts_text, str) or not isinstance(record_id, str) or not record_id:
        raise InvalidCursor("cursor is not a value returned by this API")
    try:
        return parse_ts(ts_text), record_id
    except ValueError:
        raise InvalidCursor("cursor is not a value returned by this API") from None
