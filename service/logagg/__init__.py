"""logagg: log aggregation service (HTTP ingest → Kafka → PostgreSQL, and a query API)."""

__version__ = "0.1.0"
