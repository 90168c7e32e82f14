"""Per-key token-bucket rate limiting: in memory (one replica) or in Redis (shared by replicas)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of one rate-limit check; ``retry_after`` is whole seconds until a token is free."""

    allowed: bool
    retry_after: int = 0


class RateLimiter(Protocol):
    """What the API needs from a limiter."""

    async def acquire(self, key: str) -> Decision:
        """Take one token from ``key``'s bucket if available."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def _retry_after(missing: float, rate: float) -> int:
    return max(1, math.ceil(missing / rate))


class TokenBucketLimiter:
    """A token bucket per key in this process: ``burst`` tokens, refilled at ``rate`` per second."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        # Only authenticated key ids become keys, so this map is bounded by the configured keys.
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    def check(self, key: str, cost: float = 1.0) -> Decision:
        """Take ``cost`` tokens from ``key``'s bucket if available."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return Decision(allowed=True)
            self._buckets[key] = (tokens, now)
            return Decision(allowed=False, retry_after=_retry_after(cost - tokens, self._rate))

    async def acquire(self, key: str) -> Decision:
        """Async form of ``check`` (never blocks: the lock is held for microseconds)."""
        return self.check(key)

    async def close(self) -> None:
        """Nothing to release."""


# Atomic refill-and-take on a hash {tokens, ts}; Redis' own clock keeps replicas consistent.
_BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local missing = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  missing = 1 - tokens
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, tostring(missing)}
"""


class RedisTokenBucketLimiter:
    """The same token bucket kept in Redis, so every API replica draws from one bucket per key.

    If Redis is unreachable the request is allowed (fail open, logged): rate limiting protects
    capacity, and must not turn a Redis outage into an ingest outage.
    """

    def __init__(self, url: str, rate: float, burst: int, prefix: str = "logagg:ratelimit:") -> None:
        # Imported here: only replicas configured for Redis need the client.
        from redis.asyncio import Redis

        self._rate = rate
        self._burst = burst
        self._prefix = prefix
        self._redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_BUCKET_SCRIPT)

    async def acquire(self, key: str) -> Decision:
        """Take one token from the shared bucket of ``key``."""
        from redis.exceptions import RedisError

        try:
            allowed, missing = await self._script(
                keys=[self._prefix + key], args=[self._rate, self._burst]
            )
        except (RedisError, OSError) as exc:
            log.warning("rate limiter: Redis unavailable, allowing", extra={"error": type(exc).__name__})
            return Decision(allowed=True)
        if int(allowed) == 1:
            return Decision(allowed=True)
        return Decision(allowed=False, retry_after=_retry_after(float(missing), self._rate))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
