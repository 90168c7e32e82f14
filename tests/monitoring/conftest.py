"""Fixtures for the monitoring assets: the promtool binary and the parsed alert rules."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "infra" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
ALERTS_TEST = MONITORING / "alerts_test.yaml"


@pytest.fixture(scope="session")
def promtool() -> Path:
    """promtool, built from source by `make promtool` the first time (needs Go)."""
    # `make promtool` is a no-op when the cached binary exists and prints its absolute path last.
    done = subprocess.run(
        ["make", "-s", "--no-print-directory", "promtool"],
        cwd=ROOT, capture_output=True, text=True, timeout=3600, check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"`make promtool` failed:\n{done.stdout}\n{done.stderr}")
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.is_file(), f"make promtool printed {path}, which does not exist"
    return path


@pytest.fixture(scope="session")
def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of infra/monitoring/alerts.yaml (recording rules left out)."""
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]
