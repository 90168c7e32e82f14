"""API keys: parsing the configured entries, hashed storage and constant-time verification.

The plaintext of a key is only seen twice: while the configuration is parsed (then it is hashed and
dropped) and while a request is checked. Only HMAC digests under a per-process random pepper are kept,
so neither a heap dump nor a log line can reveal a usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from enum import StrEnum


class Scope(StrEnum):
    """What a key may do."""

    INGEST = "ingest"
    QUERY = "query"


ALL_SCOPES: frozenset[Scope] = frozenset(Scope)


class ApiKeyConfigError(ValueError):
    """The API key configuration is malformed (the message never contains a key)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One configured key, as stored: its digest, a short public fingerprint and its scopes."""

    digest: bytes = field(repr=False)
    key_id: str
    scopes: frozenset[Scope]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    key_id: str
    scopes: frozenset[Scope]


def fingerprint(key: str) -> str:
    """Stable, non-reversible short id of a key, safe for logs and rate-limit buckets."""
    return "k_" + hashlib.sha256(key.encode()).hexdigest()[:12]


class KeyRing:
    """The set of configured API keys, kept only as peppered HMAC-SHA256 digests."""

    __slots__ = ("_keys", "_pepper")

    def __init__(self, keys: list[tuple[str, frozenset[Scope]]] | None = None) -> None:
        self._pepper = secrets.token_bytes(32)
        self._keys: tuple[ApiKey, ...] = tuple(
            ApiKey(digest=self._digest(key), key_id=fingerprint(key), scopes=scopes)
            for key, scopes in (keys or [])
        )

    def _digest(self, key: str) -> bytes:
        return hmac.new(self._pepper, key.encode(), hashlib.sha256).digest()

    @classmethod
    def parse(cls, raw: str | None) -> KeyRing:
        """Parse `key` / `key:scope[+scope]` entries separated by commas or newlines."""
        return cls(parse_entries(raw))

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing(<{len(self._keys)} hashed keys>)"

    @property
    def key_ids(self) -> list[str]:
        """Fingerprints of the configured keys (for start-up logs)."""
        return [k.key_id for k in self._keys]

    def authenticate(self, presented: str) -> Principal | None:
        """Return the principal for a presented key, or None; compares every digest in constant time."""
        candidate = self._digest(presented)
        found: ApiKey | None = None
        for key in self._keys:
            # No early exit: the time taken does not depend on which entry matched.
            if hmac.compare_digest(candidate, key.digest):
                found = key
        if found is None:
            return None
        return Principal(key_id=found.key_id, scopes=found.scopes)


def parse_entries(raw: str | None) -> list[tuple[str, frozenset[Scope]]]:
    """Split the configured text into (key, scopes) pairs; raises ApiKeyConfigError."""
    return [
        _parse_entry(number, entry)
        for number, entry in enumerate(_split_entries(raw or ""), start=1)
    ]


def _split_entries(raw: str) -> list[str]:
    parts = raw.replace("\r", "\n").replace(",", "\n").split("\n")
    return [p.strip() for p in parts if p.strip() and not p.strip().startswith("#")]


def _parse_entry(number: int, entry: str) -> tuple[str, frozenset[Scope]]:
    key, sep, scope_text = entry.rpartition(":")
    if not sep:
        return entry, ALL_SCOPES
    if not key:
        raise ApiKeyConfigError(f"API key entry #{number}: empty key before ':'")
    scopes: set[Scope] = set()
    for name in scope_text.split("+"):
        name = name.strip().lower()
        try:
            scopes.add(Scope(name))
        except ValueError:
            # Never echo the entry itself: it contains the key.
            allowed = ", ".join(s.value for s in Scope)
            raise ApiKeyConfigError(
                f"API key entry #{number}: unknown scope {name!r} (allowed: {allowed})"
            ) from None
    return key, frozenset(scopes)


def weak_keys(raw_entries: list[tuple[str, frozenset[Scope]]], min_length: int) -> list[int]:
    """Entry numbers (1-based) whose key is shorter than min_length or a well-known default."""
    defaults = {"changeme", "change-me", "secret", "dev", "dev-key", "devkey", "test", "password"}
    return [
        n
        for n, (key, _) in enumerate(raw_entries, start=1)
        if len(key) < min_length or key.lower() in defaults
    ]
