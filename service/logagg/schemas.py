"""Request and response models of the HTTP API (they also define the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Level = Literal["trace", "debug", "info", "warn", "error", "fatal"]


class ErrorDetail(BaseModel):
    """One specific problem: a record index and field (ingest) or a parameter (query)."""

    index: int | None = Field(default=None, description="record index in the batch (ingest)")
    field: str | None = Field(default=None, description="record field or query parameter")
    problem: str


class ErrorResponse(BaseModel):
    """Every error response has this shape; it never contains a stack trace."""

    error: str = Field(description="machine-readable code, e.g. validation_failed")
    message: str = Field(description="what went wrong and what is allowed")
    details: list[ErrorDetail] = Field(default_factory=list)
    total_problems: int | None = Field(
        default=None, description="number of problems found (details may be capped)"
    )
    request_id: str | None = None


class IngestRecord(BaseModel):
    """One record of a POST /v1/logs body (documentation of the accepted shape)."""

    service: str = Field(pattern=r"^[A-Za-z0-9._/-]{1,128}$")
    message: str = Field(description="at most 64 KiB UTF-8")
    timestamp: str | int | None = Field(
        default=None,
        description="RFC 3339 with offset, or integer epoch in s/ms/µs/ns; absent = receive time",
    )
    level: str | None = Field(
        default=None,
        description="trace|debug|info|warn|warning|error|fatal|critical (any case); default info",
    )
    attributes: dict[str, Any] | None = Field(default=None, description="≤ 16 KiB serialised")
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{1,64}$")
    span_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{1,64}$")
    id: str | None = Field(
        default=None, max_length=128, description="idempotency key: resending it never duplicates"
    )


class IngestEnvelope(BaseModel):
    """The object form of a POST /v1/logs body."""

    logs: list[IngestRecord]


class IngestAccepted(BaseModel):
    """The batch is durably in Kafka (acks=all)."""

    accepted: int


class LogItem(BaseModel):
    """One stored record."""

    id: str
    timestamp: str = Field(description="RFC 3339 UTC with microseconds")
    service: str
    level: Level
    message: str
    attributes: dict[str, Any]
    trace_id: str | None
    span_id: str | None


class LogPage(BaseModel):
    """One page of results; pass next_cursor back as `cursor` for the next page."""

    items: list[LogItem]
    next_cursor: str | None


class HistogramBucket(BaseModel):
    """Records in [start, start + interval)."""

    start: str = Field(description="RFC 3339 UTC")
    count: int
    levels: dict[str, int]


class Histogram(BaseModel):
    """Record counts over time."""

    interval: str = Field(examples=["5m"])
    since: str
    until: str
    buckets: list[HistogramBucket]


class ServiceCount(BaseModel):
    """A service and how many records it sent in the window."""

    service: str
    count: int


class ServiceList(BaseModel):
    """Services seen in [since, until)."""

    since: str
    until: str
    services: list[ServiceCount]


class Liveness(BaseModel):
    """The process is alive."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Whether the dependencies were reachable; 503 when any is not."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable"]]
