"""Classify failures while writing a batch: bad data (dead-letter it) or a transient outage (retry)."""

from __future__ import annotations

import psycopg

#: SQLSTATE classes that mean "this data can never be stored": data exception, integrity
#: constraint violation (includes "no partition for row"), program limit exceeded (e.g. a value
#: too large for an index entry).
_DATA_CLASSES = ("22", "23", "54")


def is_data_error(exc: BaseException) -> bool:
    """True when retrying ``exc`` cannot help because the data itself is rejected.

    Everything else — lost connections, shutdowns, deadlocks, lock timeouts, and also unexpected
    errors such as a missing table — is treated as transient: the consumer retries without
    committing offsets, so data stays safe in Kafka instead of being dead-lettered wholesale.
    """
    if isinstance(exc, psycopg.Error):
        sqlstate = exc.sqlstate or ""
        return sqlstate[:2] in _DATA_CLASSES
    # Raised by the driver while encoding a value client-side (e.g. a lone UTF-16 surrogate).
    return isinstance(exc, (ValueError, TypeError, OverflowError))


def describe(exc: BaseException) -> str:
    """A one-line reason for the dead-letter table."""
    sqlstate = getattr(exc, "sqlstate", None)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{sqlstate}: {text}" if sqlstate else f"{type(exc).__name__}: {text}"
