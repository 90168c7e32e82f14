"""Reading a request body under a byte limit, decompressing gzip on the fly.

The limit is on decoded bytes and is enforced while the stream is read, so an oversized body or a
gzip bomb is refused after reading at most ``max_bytes`` (+ one chunk) and never parsed.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from logagg.ingest.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

_GZIP_WBITS = 16 + zlib.MAX_WBITS
#: Compressed input is read in steps of this size so decompression output stays bounded.
_STEP = 64 * 1024


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body exceeds {max_bytes} bytes (decoded); split the batch")


def check_declared_length(content_length: str | None, encoding: str, max_bytes: int) -> None:
    """Refuse at once when Content-Length already shows the body is too large."""
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        raise BadRequest("Content-Length is not an integer") from None
    # gzip never expands data by more than a few bytes per 64 KiB block, so this stays safe.
    limit = max_bytes if encoding == "identity" else max_bytes + max_bytes // 100 + 1024
    if declared > limit:
        raise _too_large(max_bytes)


def normalise_encoding(header: str | None) -> str:
    """``identity`` or ``gzip``; anything else is a 415."""
    value = (header or "identity").strip().lower()
    if value in ("", "identity"):
        return "identity"
    if value in ("gzip", "x-gzip"):
        return "gzip"
    raise UnsupportedMediaType(
        f"Content-Encoding {header!r} is not supported; use gzip or no encoding"
    )


async def read_body(stream: AsyncIterator[bytes], encoding: str, max_bytes: int) -> bytes:
    """Read the whole body, decoded, refusing as soon as it exceeds ``max_bytes``."""
    if encoding == "identity":
        return await _read_plain(stream, max_bytes)
    return await _read_gzip(stream, max_bytes)


async def _read_plain(stream: AsyncIterator[bytes], max_bytes: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        parts.append(chunk)
    return b"".join(parts)


async def _read_gzip(stream: AsyncIterator[bytes], max_bytes: int) -> bytes:
    out = bytearray()
    inflater = zlib.decompressobj(_GZIP_WBITS)
    seen_input = False

    def feed(data: bytes) -> None:
        nonlocal inflater
        while data:
            # max_length bounds the output of this call: a bomb cannot allocate past the limit.
            room = max_bytes - len(out) + 1
            try:
                out.extend(inflater.decompress(data, room))
            except zlib.error as exc:
                raise BadRequest(f"body is not valid gzip: {exc}") from None
            if len(out) > max_bytes:
                raise _too_large(max_bytes)
            if inflater.eof:
                # Concatenated gzip members are valid gzip; start a new member.
                data = inflater.unused_data
                if data:
                    inflater = zlib.decompressobj(_GZIP_WBITS)
            else:
                data = inflater.unconsumed_tail

    async for chunk in stream:
        if chunk:
            seen_input = True
        for start in range(0, len(chunk), _STEP):
            feed(chunk[start : start + _STEP])
    if not seen_input:
        return b""
    if not inflater.eof:
        raise BadRequest("gzip body is truncated")
    return bytes(out)
