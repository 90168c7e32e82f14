"""Why an ingest request was rejected; the API turns these into HTTP errors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem: which record (index) and which field, and what is wrong."""

    index: int | None
    field: str | None
    problem: str


class IngestRejected(Exception):
    """Base class; ``reason`` is the ``logagg_ingest_rejected_total`` label."""

    reason = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(IngestRejected):
    """The body cannot be read as the declared format (→ 400)."""


class UnsupportedMediaType(IngestRejected):
    """Content-Type or Content-Encoding we do not accept (→ 415)."""


class PayloadTooLarge(IngestRejected):
    """More bytes or records than the configured limits (→ 413)."""

    reason = "too_large"


class ValidationFailed(IngestRejected):
    """At least one record is invalid; nothing of the batch is accepted (→ 422)."""

    reason = "validation"

    def __init__(self, problems: list[Problem], total: int) -> None:
        super().__init__(f"{total} problem(s) in the batch; nothing was accepted")
        self.problems = problems
        self.total = total


class KafkaUnavailable(IngestRejected):
    """Kafka did not acknowledge the batch in time (→ 503 with Retry-After)."""

    reason = "kafka_unavailable"
