"""Ingest: reading, parsing and validating request bodies, and publishing batches to Kafka."""
