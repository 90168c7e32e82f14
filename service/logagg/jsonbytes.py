"""JSON to bytes on hot paths: orjson, with the stdlib for what orjson refuses.

orjson refuses integers beyond 64 bits (which JSON allows and ``attributes`` may hold, since the
ingest parser keeps them exact) and strings with lone surrogates; the stdlib encodes both. Used for
the jsonb column on the write side and for query responses on the read side.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON of ``obj``."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError
        # ASCII escapes: valid UTF-8 even for a lone surrogate (PostgreSQL then names the problem).
        return json.dumps(obj, separators=(",", ":")).encode("ascii")
