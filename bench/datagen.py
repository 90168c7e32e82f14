"""Seeded, reproducible generator of realistic log records.

Shape of the traffic (what a mid-sized fleet sends):
- ~48 services with Zipf-skewed volume (the top service sends ~20 % of all records);
- skewed levels: info ≈ 70 %, debug 15 %, warn 8 %, error 4 %, trace 2.5 %, fatal 0.5 %;
- messages from per-kind templates with variable parts (paths, ids, durations, error codes), so
  full-text search sees both very common and rare words;
- attributes by service kind (HTTP, worker, database client), some nested (``http.status``);
- trace and span ids on about 60 % of the records.

The same ``seed`` always yields the same records (ids included). The generator is tuned for speed
(pre-built pools, one RNG) because the full benchmark loads 10 M rows.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from logagg.domain import LogRecord, format_ts

#: Bump when the generated data changes, so cached data sets are rebuilt.
GENERATOR_VERSION = 1

_PREFIXES = ("checkout", "payments", "search", "catalog", "auth", "users", "orders", "shipping",
             "inventory", "billing", "notify", "gateway", "media", "reports", "pricing", "ledger")
_KINDS = ("api", "worker", "db")
SERVICES: tuple[str, ...] = tuple(f"{p}-{k}" for p in _PREFIXES for k in _KINDS)
#: Zipf-like weights: service i sends ∝ 1/(i+1)^1.1.
_SERVICE_WEIGHTS = tuple(1 / (i + 1) ** 1.1 for i in range(len(SERVICES)))
LEVEL_WEIGHTS: dict[str, float] = {
    "trace": 2.5, "debug": 15, "info": 70, "warn": 8, "error": 4, "fatal": 0.5,
}
_LEVELS = tuple(LEVEL_WEIGHTS)
_LEVEL_W = tuple(LEVEL_WEIGHTS.values())

_PATHS = ("/v1/cart", "/v1/cart/items", "/v1/orders", "/v1/orders/{id}", "/v1/search", "/v1/login",
          "/v1/users/{id}", "/v1/products/{id}", "/v1/checkout", "/health", "/v1/invoices", "/v1/refunds")
_METHODS = ("GET", "GET", "GET", "POST", "POST", "PUT", "DELETE")
_REGIONS = ("eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1")
_QUEUES = ("emails", "invoices", "thumbnails", "exports", "webhooks", "reindex")
_TABLES = ("orders", "users", "payments", "items", "sessions", "events")
_PEERS = ("redis-main", "pg-primary", "pg-replica", "kafka-0", "s3", "stripe", "smtp-relay")
_ERR_CODES = tuple(f"E{n}" for n in range(1000, 1400))
_STATUS_BY_LEVEL = {"trace": (200,), "debug": (200, 204), "info": (200, 200, 201, 204, 301, 304),
                    "warn": (400, 401, 404, 409, 429), "error": (500, 502, 503, 504), "fatal": (500, 503)}

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "trace": ("enter {fn} args={n}", "exit {fn} after {ms}ms", "span {span} started for {path}"),
    "debug": ("cache miss for key {key}", "cache hit for key {key}", "loaded {n} rows from {table}",
              "retrying {fn} attempt {attempt}", "feature flag {flag} evaluated to {bool}"),
    "info": ("{method} {path} {status} in {ms}ms", "user {user} logged in from {region}",
             "order {order} created with {n} items", "job {job} on queue {queue} completed in {ms}ms",
             "payment {order} captured amount {amount} EUR", "query on {table} returned {n} rows in {ms}ms",
             "connected to {peer}", "config reloaded version {n}", "published {n} events to {queue}"),
    "warn": ("slow request {method} {path} took {ms}ms", "rate limit close for client {user}",
             "retrying connection to {peer} in {ms}ms", "deprecated endpoint {path} called by {user}",
             "queue {queue} depth {n} above threshold", "cache eviction storm on {key}"),
    "error": ("timeout calling {peer} after {ms}ms", "connection refused by {peer}",
              "payment {order} declined code {code}", "deadlock detected on table {table}",
              "unhandled exception in {fn}: {code} invalid state", "failed to publish to {queue}: broker not available",
              "upstream {peer} returned 503 for {path}"),
    "fatal": ("out of memory in {fn}, shutting down", "cannot open database {table}: {code}",
              "panic: nil pointer dereference in {fn}"),
}
_FUNCS = tuple(f"{verb}_{noun}" for verb in ("load", "save", "sync", "resolve", "render", "charge")
               for noun in ("cart", "user", "order", "invoice", "session", "token"))
_FLAGS = ("new_checkout", "fast_search", "dark_mode", "beta_pricing", "async_invoices")


def _uuid7(ms: int, rand: int) -> str:
    """A UUIDv7 text like the API's server-generated ids (deterministic from the inputs)."""
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | ((rand >> 62) & 0xFFF) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def _pick(pool: tuple[str, ...]) -> Any:
    return lambda rng: pool[int(rng.random() * len(pool))]


#: How each template placeholder is drawn (only the ones a template uses are computed).
_MAKERS: dict[str, Any] = {
    "fn": _pick(_FUNCS),
    "n": lambda rng: int(rng.random() * 5000) + 1,
    "span": lambda rng: f"{rng.getrandbits(64):016x}",
    "key": lambda rng: f"{_TABLES[int(rng.random() * len(_TABLES))]}:{int(rng.random() * 50_000)}",
    "table": _pick(_TABLES),
    "attempt": lambda rng: int(rng.random() * 5) + 1,
    "flag": _pick(_FLAGS),
    "bool": _pick(("true", "false")),
    "user": lambda rng: f"u{int(rng.random() * 200_000)}",
    "order": lambda rng: f"ord-{int(rng.random() * 10_000_000)}",
    "job": lambda rng: f"job-{rng.getrandbits(32):08x}",
    "queue": _pick(_QUEUES),
    "amount": lambda rng: f"{int(rng.random() * 100_000) / 100:.2f}",
    "peer": _pick(_PEERS),
    "code": _pick(_ERR_CODES),
}


class _LazyValues(dict[str, Any]):
    """Template values computed on first use (most templates need only two or three)."""

    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random, **known: Any) -> None:
        super().__init__(known)
        self._rng = rng

    def __missing__(self, key: str) -> Any:
        value = self[key] = _MAKERS[key](self._rng)
        return value


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """What to generate: ``rows`` records spread over ``days`` ending at ``end`` (UTC)."""

    rows: int
    seed: int = 42
    days: int = 7
    end: datetime = datetime(2026, 11, 1, tzinfo=UTC)

    @property
    def start(self) -> datetime:
        """Start of the covered range."""
        return self.end - timedelta(days=self.days)

    def fingerprint(self) -> str:
        """Short text naming this data set (and generator version) for caching."""
        return f"r{self.rows}_s{self.seed}_d{self.days}_{self.end:%Y%m%d}_g{GENERATOR_VERSION}"


class RecordGenerator:
    """Produces realistic records from one seeded RNG."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def _fill(self, level: str, kind: str) -> tuple[str, dict[str, Any]]:
        rng = self._rng
        rand = rng.random
        statuses = _STATUS_BY_LEVEL[level]
        status = statuses[int(rand() * len(statuses))]
        method = _METHODS[int(rand() * len(_METHODS))]
        path = _PATHS[int(rand() * len(_PATHS))].replace("{id}", str(int(rand() * 100_000)))
        region = _REGIONS[int(rand() * len(_REGIONS))]
        ms = int(rng.expovariate(1 / 80)) + 1
        values = _LazyValues(rng, status=status, method=method, path=path, region=region, ms=ms)
        templates = _TEMPLATES[level]
        message = templates[int(rand() * len(templates))].format_map(values)
        attrs: dict[str, Any] = {"region": region, "host": f"{kind}-{int(rand() * 24):02d}"}
        if kind == "api":
            attrs["http"] = {"method": method, "status": status, "path": path}
            attrs["duration_ms"] = ms
        elif kind == "worker":
            attrs.update(queue=values["queue"], job=values["job"], attempt=values["attempt"])
        else:
            attrs.update(table=values["table"], rows=values["n"], peer=values["peer"])
        if rand() < 0.3:
            attrs["user_id"] = values["user"]
        if level in ("error", "fatal"):
            attrs["error_code"] = values["code"]
        return message, attrs

    def records(self, count: int, start: datetime, end: datetime) -> Iterator[LogRecord]:
        """``count`` records with increasing timestamps spread over ``[start, end)``."""
        rng = self._rng
        services = rng.choices(range(len(SERVICES)), weights=_SERVICE_WEIGHTS, k=count)
        levels = rng.choices(_LEVELS, weights=_LEVEL_W, k=count)
        span_us = int((end - start).total_seconds() * 1_000_000)
        step = max(1, span_us // max(1, count))
        start_us = int(start.timestamp() * 1_000_000)
        for i in range(count):
            ts_us = start_us + i * step + rng.randrange(step)
            service = SERVICES[services[i]]
            level = levels[i]
            message, attrs = self._fill(level, service.rsplit("-", 1)[1])
            traced = rng.random() < 0.6
            yield LogRecord(
                id=_uuid7(ts_us // 1000, rng.getrandbits(74)),
                ts=datetime.fromtimestamp(ts_us / 1_000_000, UTC),
                service=service,
                level=level,
                message=message,
                attributes=attrs,
                trace_id=f"{rng.getrandbits(128):032x}" if traced else None,
                span_id=f"{rng.getrandbits(64):016x}" if traced else None,
            )


def dataset(spec: DatasetSpec) -> Iterator[LogRecord]:
    """The records of ``spec`` in timestamp order."""
    return RecordGenerator(spec.seed).records(spec.rows, spec.start, spec.end)


def to_api(record: LogRecord, *, with_id: bool = False) -> dict[str, Any]:
    """The record as a POST /v1/logs item (client ``id`` only when ``with_id``)."""
    item: dict[str, Any] = {
        "timestamp": format_ts(record.ts),
        "service": record.service,
        "level": record.level,
        "message": record.message,
        "attributes": record.attributes,
    }
    if record.trace_id is not None:
        item["trace_id"] = record.trace_id
        item["span_id"] = record.span_id
    if with_id:
        item["id"] = record.id
    return item


def raw_json_bytes(records: list[LogRecord]) -> float:
    """Mean size in bytes of a record as compact JSON in the ingest format (with its id)."""
    if not records:
        return 0.0
    total = sum(len(json.dumps(to_api(r, with_id=True), separators=(",", ":")).encode()) for r in records)
    return total / len(records)
