"""The Grafana dashboards load: a valid model, provisioned datasources only, PromQL that parses
and names only metrics that exist (docs/architecture.md or the exporters we deploy)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.components import grafana
from tests.monitoring.conftest import ROOT

DASHBOARDS = sorted((ROOT / "infra" / "monitoring" / "dashboards").glob("*.json"))
# Series of the exporters the Monitoring component deploys (kube-state-metrics, postgres_exporter,
# CloudNativePG) and Prometheus' own `up`. Kafka partition health is the consumer's own (contract).
EXPORTER_METRICS = {
    "up", "kube_pod_container_status_restarts_total",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas", "kube_horizontalpodautoscaler_spec_min_replicas",
    "pg_up", "cnpg_collector_up",
    "process_start_time_seconds",  # every prometheus_client process exports it
}
# Grafana's built-in variables and the values the PromQL check substitutes for them.
PROMQL_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
                    "$namespace": "logagg"}


def _contract_metrics() -> set[str]:
    """Metric names in docs/architecture.md, with the _bucket/_sum/_count series of histograms."""
    names: set[str] = set()
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        found = re.findall(r"`(logagg_[a-z_]+)`", line)
        histogram = "| histogram |" in line
        for name in found:
            names.add(name)
            if histogram:
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _targets(dashboard: dict[str, Any], ds_type: str) -> list[tuple[int, dict[str, Any]]]:
    return [(p["id"], t) for p in _panels(dashboard) for t in p.get("targets", [])
            if t.get("datasource", p.get("datasource", {})).get("type") == ds_type]


@pytest.fixture(scope="module", params=[p.name for p in DASHBOARDS])
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return json.loads((ROOT / "infra" / "monitoring" / "dashboards" / request.param).read_text())


@pytest.fixture(scope="module")
def provisioned_uids() -> dict[str, str]:
    """`uid → type` of the datasources the Grafana component provisions."""
    text = grafana.datasources_file("http://prometheus:9090", "db", 5432, "logagg", "pw",
                                    tls=True, scrape_interval="30s")
    return {d["uid"]: d["type"] for d in yaml.safe_load(text)["datasources"]}


def test_both_dashboards_exist() -> None:
    assert {p.name for p in DASHBOARDS} == {"service-overview.json", "logs-explorer.json"}


def test_dashboard_model(dashboard: dict[str, Any]) -> None:
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dashboard["uid"]), dashboard["uid"]
    assert dashboard["title"] and dashboard["panels"]
    assert "id" not in dashboard or dashboard["id"] is None, "provisioned dashboards carry no id"
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {dashboard['uid']}: {ids}"
    for panel in _panels(dashboard):
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, panel["title"]
        assert panel["type"] in {"row", "timeseries", "stat", "table", "barchart", "gauge"}
        if panel["type"] != "row":
            assert panel.get("targets"), f"{panel['title']}: no queries"
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), f"{panel['title']}: duplicate refIds"


def test_datasources_are_provisioned(dashboard: dict[str, Any], provisioned_uids: dict[str, str]) -> None:
    def check(ds: dict[str, Any], where: str) -> None:
        assert ds["uid"] in provisioned_uids, f"{where}: datasource {ds['uid']} is not provisioned"
        assert ds["type"] == provisioned_uids[ds["uid"]], f"{where}: type {ds['type']} mismatch"

    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        check(panel["datasource"], panel["title"])
        for target in panel["targets"]:
            check(target.get("datasource", panel["datasource"]), f"{panel['title']}/{target['refId']}")
    for variable in dashboard["templating"]["list"]:
        if "datasource" in variable:
            check(variable["datasource"], f"variable {variable['name']}")


def test_variables_used_are_defined(dashboard: dict[str, Any]) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    text = json.dumps([p.get("targets", []) for p in _panels(dashboard)])
    used = {m for m in re.findall(r"\$\{?([a-zA-Z_]\w*)", text) if not m.startswith("__")}
    assert used <= defined, f"undefined variables: {sorted(used - defined)}"


def test_promql_targets_parse(tmp_path: Path, promtool: Path) -> None:
    """promtool parses every dashboard expression (checked as recording rules)."""
    rules = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel_id, target in _targets(dashboard, "prometheus"):
            expr = target["expr"]
            for var, value in PROMQL_VARIABLES.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, f"{path.name} panel {panel_id}: unknown variable in {expr}"
            rules.append({"record": f"dashboard:{path.stem.replace('-', '_')}:p{panel_id}",
                          "expr": expr})
    assert rules
    rule_file = tmp_path / "dashboard_exprs.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run([str(promtool), "check", "rules", str(rule_file)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promql_names_only_known_metrics_in_the_stack_namespace() -> None:
    known = _contract_metrics() | EXPORTER_METRICS
    assert "logagg_http_request_duration_seconds_bucket" in known  # the contract parser works
    for path in DASHBOARDS:
        for panel_id, target in _targets(json.loads(path.read_text()), "prometheus"):
            expr = target["expr"]
            selectors = re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", expr)
            assert selectors, f"{path.name} panel {panel_id}: no selector in {expr}"
            for metric, matchers in selectors:
                assert metric in known, f"{path.name} panel {panel_id}: unknown metric {metric}"
                assert 'namespace="$namespace"' in matchers, f"{path.name} panel {panel_id}: {expr}"


def test_alert_metrics_are_known() -> None:
    """The alert rules, too, only name contract or exporter metrics."""
    known = _contract_metrics() | EXPORTER_METRICS
    rules = yaml.safe_load((ROOT / "infra" / "monitoring" / "alerts.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            for metric in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", rule["expr"]):
                assert metric in known, f"{rule.get('alert', rule.get('record'))}: {metric}"


def test_service_overview_covers_the_issue_panels() -> None:
    dashboard = json.loads((ROOT / "infra/monitoring/dashboards/service-overview.json").read_text())
    exprs = " ".join(t["expr"] for _, t in _targets(dashboard, "prometheus"))
    for metric in ("logagg_ingest_records_total", "logagg_ingest_rejected_total",
                   "logagg_http_request_duration_seconds_bucket", "logagg_consumer_lag",
                   "logagg_db_write_duration_seconds_bucket",
                   "kube_horizontalpodautoscaler_status_current_replicas"):
        assert metric in exprs, f"service overview has no panel on {metric}"


def test_logs_explorer_reads_only_log_tables_through_postgres() -> None:
    dashboard = json.loads((ROOT / "infra/monitoring/dashboards/logs-explorer.json").read_text())
    targets = _targets(dashboard, "grafana-postgresql-datasource")
    assert {t["format"] for _, t in targets} == {"table", "time_series"}
    for _, target in targets:
        tables = set(re.findall(r"\bFROM\s+(\w+)", target["rawSql"], re.IGNORECASE))
        assert tables and tables <= {"logs", "log_counts"}, tables


def _service_metric_names() -> set[str]:
    """Sample names the service's API and consumer registries expose (importing creates them)."""
    import logagg.consumer.metrics  # registers the consumer metrics
    import logagg.metrics  # noqa: F401  (registers the API's metrics)
    from prometheus_client import REGISTRY

    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("logagg_"):
            base = family.name
            names |= {base, f"{base}_total", f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    return names


def test_every_logagg_metric_used_is_exported_by_the_service() -> None:
    """Alerts and dashboards name only series the service code really registers."""
    exported = _service_metric_names()
    used: set[str] = set()
    for path in DASHBOARDS:
        for _, target in _targets(json.loads(path.read_text()), "prometheus"):
            used |= set(re.findall(r"\b(logagg_[a-z_]+)\{", target["expr"]))
    rules = yaml.safe_load((ROOT / "infra" / "monitoring" / "alerts.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= set(re.findall(r"\b(logagg_[a-z_]+)\{", rule["expr"]))
    assert len(used) >= 15
    assert used <= exported, f"not exported by service/logagg: {sorted(used - exported)}"
