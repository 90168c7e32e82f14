"""Drill fixtures: one running pipeline (API + consumer processes) over a migrated database.

`make test` runs the quick budget; `make drills` sets DRILLS_BUDGET=full (more load, repeated
disruptions, ≥ 1000 schemathesis cases). Results are also written to bench/results/drills.json.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.drills.checker import DrillResult
from bench.drills.pipeline import Budget, Pipeline
from bench.stack import REPO, ServiceConfig, create_topic
from tests.service.store.factories import migrated_database

_RESULTS: list[DrillResult] = []
_NOTES: dict[str, str] = {}


@pytest.fixture(scope="session")
def budget() -> Budget:
    """quick (make test) or full (make drills)."""
    return Budget.from_env()


@pytest.fixture(scope="session")
def drill_dsn(pg_dsn: str) -> Iterator[str]:
    """A migrated database only the drills write to."""
    yield from migrated_database(pg_dsn, "drills")


@pytest.fixture(scope="session")
def drill_pipeline(drill_dsn: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """API and consumer processes on a two-partition topic, kept for all drills."""
    config = ServiceConfig(
        drill_dsn, kafka_bootstrap, create_topic(kafka_bootstrap, partitions=2, prefix="drills"),
        # A short produce timeout turns a broker outage into 503s quickly.
        extra_env={"LOGAGG_KAFKA_PRODUCE_TIMEOUT_SECONDS": "5", "LOGAGG_CONSUMER_POLL_TIMEOUT_MS": "200"},
    )
    pipeline = Pipeline(config, drill_dsn, tmp_path_factory.mktemp("drills")).start()
    try:
        yield pipeline
    finally:
        pipeline.stop()


@pytest.fixture
def pipeline(drill_pipeline: Pipeline) -> Pipeline:
    """The shared pipeline, running and accepting (a failed drill may have left a process down or stuck)."""
    repaired = drill_pipeline.ensure_running()
    if repaired:
        record_note(f"repair before drill {len(_RESULTS) + 1}", "; ".join(repaired))
    return drill_pipeline


def record(result: DrillResult) -> DrillResult:
    """Keep a drill's result for the summary and the JSON file."""
    _RESULTS.append(result)
    return result


def record_note(name: str, text: str) -> None:
    """Keep a one-line outcome (e.g. the schemathesis case count) for the summary."""
    _NOTES[name] = text


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print every drill's verdict and write bench/results/drills.json."""
    if not _RESULTS and not _NOTES:
        return
    terminalreporter.section("reliability drills")
    for result in _RESULTS:
        terminalreporter.write_line(result.line())
    for name, text in _NOTES.items():
        terminalreporter.write_line(f"{name}: {text}")
    out = REPO / "bench" / "results" / "drills.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"budget": Budget.from_env().name, "drills": [r.as_dict() for r in _RESULTS], **_NOTES},
                              indent=2, default=str) + "\n")
    terminalreporter.write_line(f"written {Path(out).relative_to(REPO)}")
