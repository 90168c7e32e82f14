"""The checkov gate: run checkov (kubernetes framework) over rendered manifests and judge the result.

`python -m tests.policy.checkov_gate DIR...` prints passed/failed/skipped per directory, every
failure and every skip with its reason, and exits 1 unless there are no failures and at most
`MAX_SKIPPED_IDS` distinct check ids are skipped over all directories. Skips are only ever
`checkov.io/skip<N>: CKV_K8S_XX=<reason>` annotations on the object they concern.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHECKOV = Path(os.environ.get("CHECKOV", REPO / ".venv-policy" / "bin" / "checkov"))
MAX_SKIPPED_IDS = 3


@dataclass(frozen=True)
class Finding:
    """One failed or skipped check on one object."""

    check_id: str
    """e.g. CKV_K8S_38."""
    name: str
    """checkov's title of the check."""
    resource: str
    """checkov's `Kind.namespace.name` of the object."""
    file: str
    """Manifest file, relative to the scanned directory."""
    reason: str = ""
    """Why it was skipped (the annotation's text); '' for a failure."""


@dataclass
class Report:
    """checkov's verdict on one directory."""

    directory: Path
    """What was scanned."""
    passed: int = 0
    """Passed checks."""
    failed: list[Finding] = field(default_factory=list)
    """Failed checks."""
    skipped: list[Finding] = field(default_factory=list)
    """Checks skipped by an annotation."""
    resources: int = 0
    """Objects checkov evaluated."""


def _finding(raw: dict[str, Any]) -> Finding:
    suppress = raw.get("check_result", {}).get("suppress_comment") or ""
    return Finding(raw["check_id"], raw.get("check_name", ""), raw.get("resource", ""),
                   raw.get("file_path", "").lstrip("/"), suppress)


def scan(directory: Path) -> Report:
    """Run checkov on every manifest in `directory` and parse its JSON report."""
    if not CHECKOV.exists():
        raise FileNotFoundError(f"{CHECKOV} is missing: run `make policy-venv` first")
    if not directory.is_dir() or not any(directory.glob("*.y*ml")):
        raise FileNotFoundError(f"{directory} holds no manifests: run `make render` first")
    completed = subprocess.run(
        [str(CHECKOV), "--framework", "kubernetes", "--directory", str(directory), "--output", "json",
         "--skip-download", "--skip-results-upload"],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "PYTHONWARNINGS": "ignore"},
    )
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"checkov failed ({completed.returncode}) on {directory}:\n"
                           f"{completed.stderr[-4000:]}")
    data = json.loads(completed.stdout)
    results = data if isinstance(data, list) else [data]
    report = Report(directory)
    for result in results:
        if result.get("check_type") not in (None, "kubernetes"):
            continue
        summary = result.get("summary", {})
        report.passed += int(summary.get("passed", 0))
        report.resources += int(summary.get("resource_count", 0))
        report.failed += [_finding(r) for r in result.get("results", {}).get("failed_checks", [])]
        report.skipped += [_finding(r) for r in result.get("results", {}).get("skipped_checks", [])]
    return report


def skipped_ids(reports: list[Report]) -> set[str]:
    """Distinct check ids skipped anywhere."""
    return {finding.check_id for report in reports for finding in report.skipped}


def describe(report: Report) -> str:
    """A readable block for one directory."""
    lines = [(f"{report.directory}: passed {report.passed}, failed {len(report.failed)}, "
             f"skipped {len(report.skipped)} ({report.resources} objects)")]
    lines += [f"  FAILED  {f.check_id} {f.resource} ({f.file}): {f.name}" for f in report.failed]
    lines += [f"  skipped {f.check_id} {f.resource}: {f.reason}" for f in report.skipped]
    return "\n".join(lines)


def passes(reports: list[Report]) -> bool:
    """The gate: no failed check anywhere and at most MAX_SKIPPED_IDS distinct skipped ids."""
    return all(not r.failed for r in reports) and len(skipped_ids(reports)) <= MAX_SKIPPED_IDS


def main(argv: list[str]) -> int:
    """Scan each directory in `argv`; 0 when the gate passes."""
    with ThreadPoolExecutor(max_workers=max(1, len(argv))) as pool:  # checkov is mostly start-up
        reports = list(pool.map(scan, map(Path, argv)))
    for report in reports:
        print(describe(report))
    ids = skipped_ids(reports)
    failed = sum(len(r.failed) for r in reports)
    print(f"checkov gate: {failed} failed checks; skipped check ids {sorted(ids) or 'none'} "
          f"({len(ids)} of at most {MAX_SKIPPED_IDS})")
    return 0 if passes(reports) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
