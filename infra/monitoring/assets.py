"""Load the monitoring assets kept in this directory and render them for one stack.

Pure: reads files, returns data. Components turn the results into ConfigMaps / PrometheusRules.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ASSETS = Path(__file__).resolve().parent
ALERTS_FILE = ASSETS / "alerts.yaml"
DASHBOARDS_DIR = ASSETS / "dashboards"
READONLY_ROLE_SQL = ASSETS / "sql" / "readonly_role.sql"
NAMESPACE_PLACEHOLDER = "__NAMESPACE__"
"""Stands for the stack's namespace in every selector of alerts.yaml."""
READONLY_ROLE = "logagg_readonly"
"""PostgreSQL role created by sql/readonly_role.sql (SELECT on logs and log_counts only)."""


@cache
def _raw_rules() -> dict[str, Any]:
    return yaml.safe_load(ALERTS_FILE.read_text())


def rule_groups(namespace: str, runbook_base_url: str = "") -> list[dict[str, Any]]:
    """The rule groups of alerts.yaml scoped to `namespace`, runbook links prefixed with the base URL."""
    if not namespace or '"' in namespace:
        raise ValueError(f"namespace must be a non-empty Kubernetes name, got {namespace!r}")
    groups = copy.deepcopy(_raw_rules()["groups"])
    base = runbook_base_url.rstrip("/")
    for group in groups:
        for rule in group["rules"]:
            rule["expr"] = rule["expr"].replace(NAMESPACE_PLACEHOLDER, namespace)
            annotations = rule.get("annotations", {})
            if base and "runbook_url" in annotations:
                annotations["runbook_url"] = f"{base}/{annotations['runbook_url']}"
    return groups


def rules_file(namespace: str, runbook_base_url: str = "") -> str:
    """A Prometheus rule file (YAML) for `namespace`."""
    return yaml.safe_dump({"groups": rule_groups(namespace, runbook_base_url)}, sort_keys=False,
                          width=200)


def dashboards() -> dict[str, str]:
    """`file name → dashboard JSON` (compacted) of every dashboard in dashboards/."""
    return {p.name: json.dumps(json.loads(p.read_text()), separators=(",", ":"))
            for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def readonly_role_sql() -> str:
    """Idempotent SQL creating/granting the read-only role (run as the database owner)."""
    return READONLY_ROLE_SQL.read_text()
