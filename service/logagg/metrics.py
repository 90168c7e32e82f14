"""Prometheus metrics of the API (names are a contract: docs/architecture.md).

Metric objects live in the default registry, created once when this module is first imported;
creating them does no I/O. Consumer-side metrics belong to ``logagg.consumer``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "logagg_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "logagg_http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
INGEST_RECORDS = Counter("logagg_ingest_records_total", "Records accepted (acknowledged by Kafka)")
INGEST_BYTES = Counter("logagg_ingest_bytes_total", "Decoded request bytes of accepted batches")
INGEST_BATCHES = Counter("logagg_ingest_batches_total", "Ingest requests accepted")
INGEST_REJECTED = Counter(
    "logagg_ingest_rejected_total", "Ingest requests rejected, by reason", ["reason"]
)
KAFKA_PRODUCE_DURATION = Histogram(
    "logagg_kafka_produce_duration_seconds",
    "Time from first send to the last acks=all acknowledgement of one request",
    buckets=_LATENCY_BUCKETS,
)
QUERY_DURATION = Histogram(
    "logagg_query_duration_seconds",
    "Query API database time",
    ["endpoint"],
    buckets=_LATENCY_BUCKETS,
)
DB_POOL_SIZE = Gauge("logagg_db_pool_size", "Connections in the API's PostgreSQL pool")
DB_POOL_IN_USE = Gauge("logagg_db_pool_in_use", "Pool connections currently lent out")
DB_UP = Gauge("logagg_db_up", "1 when the last readiness probe reached PostgreSQL")
KAFKA_UP = Gauge("logagg_kafka_up", "1 when the last readiness probe reached Kafka")

#: Values of the ``reason`` label of ``logagg_ingest_rejected_total``.
REJECT_REASONS = (
    "validation",
    "too_large",
    "unauthorized",
    "forbidden",
    "rate_limited",
    "kafka_unavailable",
    "bad_request",
)
for _reason in REJECT_REASONS:
    INGEST_REJECTED.labels(reason=_reason)  # export every series from the start (at 0)
