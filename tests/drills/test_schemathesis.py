"""Bad input at scale: schemathesis against the served OpenAPI of the API process, with a valid key.

Every generated case (valid and invalid data, every operation) must get no 5xx, a documented
status, content type and headers, and a body matching its schema. Budget: DRILLS_BUDGET=full
(make drills) ≥ 1000 cases in total; quick (make test) about a hundred. The schemathesis CLI is
used (its pytest plugin does not support pytest 9's node ids yet).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.drills.pipeline import Pipeline
from tests.drills.conftest import record_note

pytestmark = pytest.mark.drills

FULL = os.environ.get("DRILLS_BUDGET", "quick") == "full"
#: Examples per operation; the API has 7 operations (≥ 1000 cases in the full budget).
EXAMPLES = 250 if FULL else 12
MIN_CASES = 1000 if FULL else 50
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")


def test_api_conforms_to_its_openapi(drill_pipeline: Pipeline, tmp_path: Path) -> None:
    api = drill_pipeline.api
    cli = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [str(cli), "run", f"{api.url}/openapi.json", "--url", api.url,
         "--header", f"Authorization: Bearer {drill_pipeline.config.api_key}",
         "--checks", ",".join(CHECKS), "--mode", "all", "--max-examples", str(EXAMPLES),
         "--seed", "20261130", "--generation-database", "none", "--workers", "1",
         "--generation-with-security-parameters", "false", "--suppress-health-check", "all",
         "--request-timeout", "30",
         "--no-color", "--output-sanitize", "true"],
        # cwd: the CLI keeps a crash cache in ./.schemathesis, which must not land in the work tree.
        cwd=tmp_path, capture_output=True, text=True, timeout=1800, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    cases = _case_count(output)
    record_note("schemathesis", f"{cases} generated cases, 7 operations, checks {', '.join(CHECKS)}: all passed")
    assert cases >= MIN_CASES, f"only {cases} generated cases:\n{output[-3000:]}"


def _case_count(output: str) -> int:
    """Test cases run, from the CLI summary ("Test cases: N generated, ...")."""
    match = re.search(r"(\d+) generated", output)
    return int(match.group(1)) if match else 0
