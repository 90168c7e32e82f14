"""Token bucket arithmetic (with a controlled clock) and JSON log configuration."""

from __future__ import annotations

import json
import logging

import pytest
from logagg.logconfig import configure_logging
from logagg.ratelimit import TokenBucketLimiter


class Clock:
    """A clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_burst_refill_and_retry_after() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.check("k").allowed for _ in range(4)] == [True, True, True, False]
    denied = limiter.check("k")
    assert not denied.allowed and denied.retry_after == 1  # 0.5 s to the next token, rounded up
    clock.now += 0.5
    assert limiter.check("k").allowed
    assert not limiter.check("k").allowed
    clock.now += 100  # refill is capped at the burst size
    assert [limiter.check("k").allowed for _ in range(4)] == [True, True, True, False]
    assert limiter.check("other").allowed  # one bucket per key


def test_slow_refill_gives_long_retry_after() -> None:
    limiter = TokenBucketLimiter(rate=0.1, burst=1, clock=Clock())
    assert limiter.check("k").allowed
    assert limiter.check("k").retry_after == 10


def test_logs_are_json_at_the_configured_level(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure_logging("WARNING")
        logging.getLogger("logagg.test").info("hidden")
        logging.getLogger("logagg.test").warning("shown", extra={"request_id": "r1"})
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert [(r["level"], r["logger"], r["message"], r["request_id"]) for r in lines] == [
            ("WARNING", "logagg.test", "shown", "r1")
        ]
        configure_logging("debug")  # idempotent: still one handler of ours
        assert sum(getattr(h, "_logagg", False) for h in root.handlers) == 1
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_logagg", False):
                root.removeHandler(handler)
        root.setLevel(saved[0])
