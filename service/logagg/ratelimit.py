"""Per-key token-bucket rate limiting (in memory, per API replica)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of one rate-limit check; ``retry_after`` is whole seconds until a token is free."""

    allowed: bool
    retry_after: int = 0


class TokenBucketLimiter:
    """A token bucket per key: ``burst`` tokens, refilled at ``rate`` tokens per second."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
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
            wait = (cost - tokens) / self._rate
            return Decision(allowed=False, retry_after=max(1, math.ceil(wait)))
