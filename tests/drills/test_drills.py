"""Reliability drills against real processes, Kafka and PostgreSQL: acked − stored = ∅, no duplicates."""

from __future__ import annotations

import pytest

from bench.drills import scenarios
from bench.drills.pipeline import Budget, Pipeline
from tests.drills.conftest import record
from tests.localsvc import KafkaBroker, PostgresServer

pytestmark = pytest.mark.drills


def test_consumer_sigkill_between_db_and_offset_commit(pipeline: Pipeline, budget: Budget) -> None:
    result = record(scenarios.consumer_sigkill(pipeline, budget))
    assert result.ok, result.line() + f" {result.examples}"
    assert result.notes["crashes_after_db_commit"] == budget.repeats


def test_kafka_broker_stop_start_during_ingest(pipeline: Pipeline, budget: Budget, kafka_broker: KafkaBroker) -> None:
    result = record(scenarios.kafka_outage(pipeline, budget, kafka_broker))
    assert result.ok, result.line() + f" {result.examples}"
    assert result.notes["saw_503"] > 0, f"no 503 while the broker was down: {result.statuses}"


def test_postgres_restart_during_consumption(
    pipeline: Pipeline, budget: Budget, pg_server: PostgresServer | None
) -> None:
    if pg_server is None:
        pytest.skip("DATABASE_URL points at an external server that this drill cannot restart")
    result = record(scenarios.postgres_restart(pipeline, budget, pg_server))
    assert result.ok, result.line() + f" {result.examples}"
    assert result.notes["consumer_alive"], pipeline.consumer.output()


def test_api_restart_under_load(pipeline: Pipeline, budget: Budget) -> None:
    result = record(scenarios.api_restart(pipeline, budget))
    assert result.ok, result.line() + f" {result.examples}"


def test_client_resend_with_and_without_ids(pipeline: Pipeline, budget: Budget) -> None:
    result = record(scenarios.client_resend(pipeline, budget))
    assert result.ok, result.line() + f" {result.examples}"
    assert result.notes["no_id_records_stored_twice_as_acked"], result.line()


def test_poison_message_is_dead_lettered_and_consumption_continues(
    pipeline: Pipeline, budget: Budget, kafka_bootstrap: str
) -> None:
    result = record(scenarios.poison_message(pipeline, budget, kafka_bootstrap))
    assert result.ok, result.line() + f" {result.examples}"
    assert result.notes["dead_letters"] == result.notes["poison_sent"], result.notes
    assert result.notes["consumer_alive"], pipeline.consumer.output()
