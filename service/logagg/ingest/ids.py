"""Server-generated record ids: UUIDv7 (time-ordered, 74 random bits), as canonical text."""

from __future__ import annotations

import secrets
import time
import uuid


def new_record_id() -> str:
    """A fresh UUIDv7 string; unique across replicas without coordination."""
    ms = time.time_ns() // 1_000_000
    rand = secrets.randbits(74)
    value = (ms & ((1 << 48) - 1)) << 80  # unix_ts_ms
    value |= 0x7 << 76  # version 7
    value |= (rand >> 62) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b
    return str(uuid.UUID(int=value))
