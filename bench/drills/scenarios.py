"""The six reliability drills of issue 7 §2. Each returns a ``DrillResult`` (acked − stored = ∅, no duplicates).

Every drill sends its own records (unique tag) through the running pipeline with the load process,
disturbs one component in the middle of the load, lets the load finish (the client retries what
was not accepted, as the API tells it to), waits until the pipeline has settled, and checks.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime

from kafka import KafkaProducer
from logagg.consumer.loop import CRASH_ENV, CRASH_EXIT_CODE
from logagg.domain import LogRecord, encode_batch

from bench.drills.checker import DrillResult
from bench.drills.pipeline import Budget, LoadRun, Pipeline
from tests.localsvc import KafkaBroker, PostgresServer
from tests.localsvc.lifecycle import LocalServer


def _disruption_points(budget: Budget) -> list[int]:
    """Acked-batch counts at which the disruptions happen (spread over the load)."""
    step = budget.batches // (budget.repeats + 1)
    return [step * (i + 1) for i in range(budget.repeats)]


def _stop_server_during_load(p: Pipeline, budget: Budget, server: LocalServer, tag: str) -> tuple[LoadRun, int]:
    """Run load tagged `tag`; at each disruption point stop `server` for ``budget.outage_s``, then start it.

    Returns the load run and how many outages there were.
    """
    run = LoadRun(p, p.new_tag(tag), budget)
    outages = 0
    for point in _disruption_points(budget):
        if not run.wait_acked(point):
            break
        server.stop()
        outages += 1
        try:
            time.sleep(budget.outage_s)
        finally:
            server.start()
    return run, outages


def consumer_sigkill(p: Pipeline, budget: Budget) -> DrillResult:
    """Consumer dies between the DB commit and the offset commit (the test hook exits like SIGKILL),
    and — in the full budget — is also SIGKILLed at random moments; the batch is redelivered."""
    run = LoadRun(p, p.new_tag("sigkill"), budget)
    crashes, kills = 0, 0
    rng = random.Random(7)
    for point in _disruption_points(budget):
        if not run.wait_acked(point):
            break
        crashing = p.replace_consumer(**{CRASH_ENV: "1"})
        assert crashing.proc is not None
        code = crashing.proc.wait(timeout=120)
        if code != CRASH_EXIT_CODE:
            raise AssertionError(f"crash-hook consumer exited {code}, expected {CRASH_EXIT_CODE}:\n{crashing.output()}")
        crashes += 1
        p.replace_consumer()
        if budget.repeats > 1:  # a plain SIGKILL at a random moment of a normal consumer's work
            time.sleep(rng.uniform(1.0, 3.0))
            p.consumer.kill()
            kills += 1
            p.replace_consumer()
    return p.result("1 consumer SIGKILL", run, crashes_after_db_commit=crashes, random_sigkills=kills)


def kafka_outage(p: Pipeline, budget: Budget, broker: KafkaBroker) -> DrillResult:
    """The broker stops during ingest (503s, never a 202 that goes missing) and starts again."""
    run, outages = _stop_server_during_load(p, budget, broker, "kafka")
    result = p.result("2 Kafka broker stop/start", run, outages=outages)
    result.notes["saw_503"] = int(result.statuses.get("503", 0))
    return result


def postgres_restart(p: Pipeline, budget: Budget, server: PostgresServer) -> DrillResult:
    """PostgreSQL restarts while the consumer writes; it retries and the lag drains."""
    run, restarts = _stop_server_during_load(p, budget, server, "pgrestart")
    result = p.result("3 PostgreSQL restart", run, restarts=restarts)
    result.notes["consumer_alive"] = p.consumer.alive()
    return result


def api_restart(p: Pipeline, budget: Budget) -> DrillResult:
    """The API process restarts under load: graceful (SIGTERM) and, in the full budget, SIGKILL too."""
    run = LoadRun(p, p.new_tag("apirestart"), budget, concurrency=4)
    how = []
    for i, point in enumerate(_disruption_points(budget)):
        if not run.wait_acked(point):
            break
        if i % 2 == 0:
            p.api.stop()
            how.append("SIGTERM")
        else:
            p.api.kill()
            how.append("SIGKILL")
        p.api.start()
    return p.result("4 API restart under load", run, restarts=how)


def client_resend(p: Pipeline, budget: Budget) -> DrillResult:
    """Every batch is sent twice (a client retry); half the batches carry ids, half do not."""
    run = LoadRun(p, p.new_tag("resend"), budget, ids="mixed", copies=2)
    result = p.result("5 client resend (±ids)", run)
    # Without ids both accepted copies must be stored (the server cannot know they are the same).
    result.notes["no_id_records_stored_twice_as_acked"] = result.ambiguous_extra == 0
    return result


def poison_message(p: Pipeline, budget: Budget, bootstrap: str) -> DrillResult:
    """Poison messages land on the topic among good ones → dead-letter rows, consumption continues."""
    run = LoadRun(p, p.new_tag("poison"), budget)
    run.wait_acked(max(1, budget.batches // 3))  # poison lands mid-load either way
    ts = datetime.now(UTC)
    bad_record = LogRecord(id="poison-nul", ts=ts, service="drill-poison", level="info", message="nul \x00 byte")
    poisons = [
        b"{not json",
        json.dumps({"v": 1, "records": [{"id": "x", "service": "drill-poison"}]}).encode(),
        b"\xff\xfe",
        encode_batch([bad_record]),
    ]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip")
    try:
        for value in poisons:
            producer.send(p.config.topic, value=value).get(timeout=30)
    finally:
        producer.close()
    result = p.result("6 poison message", run)
    letters = p.dead_letters(p.config.topic)
    result.notes["poison_sent"] = len(poisons)
    result.notes["dead_letters"] = len(letters)
    result.notes["consumer_alive"] = p.consumer.alive()
    return result
