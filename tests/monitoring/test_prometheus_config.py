"""The bundled Prometheus' rendered configuration and rules pass `promtool check config`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from infra import k8s as kx
from infra.components.monitoring import MonitoringArgs, prometheus_files
from infra.monitoring.scrape import ScrapeTarget

TARGETS = [
    ScrapeTarget(job="logagg-api", selector=kx.selector_labels("logagg", "api", "logagg"), port="http"),
    ScrapeTarget(job="cnpg", selector={"cnpg.io/cluster": "logagg-postgres"}, port="metrics"),
    ScrapeTarget(job="kube-state-metrics", selector={"app.kubernetes.io/name": "kube-state-metrics"},
                 port="metrics", honor_labels=True),
]


def _write(tmp_path: Path, files: dict[str, str]) -> Path:
    """The ConfigMap's files on disk, the rule file path pointed at the temporary copy."""
    config = yaml.safe_load(files["prometheus.yml"])
    config["rule_files"] = [str(tmp_path / "alerts.yaml")]
    (tmp_path / "alerts.yaml").write_text(files["alerts.yaml"])
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _check(promtool: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), "check", "config", str(path)], capture_output=True,
                          text=True, timeout=120, check=False)


def test_rendered_config_and_rules_pass_promtool(promtool: Path, tmp_path: Path) -> None:
    args = MonitoringArgs(namespace="logagg-prod", runbook_base_url="https://git.example.com/r/",
                          alertmanager_url="http://alertmanager.monitoring.svc:9093")
    files = prometheus_files("logagg-prod", TARGETS, args)
    assert "__NAMESPACE__" not in files["alerts.yaml"]
    done = _check(promtool, _write(tmp_path, files))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_promtool_config_check_can_fail(promtool: Path, tmp_path: Path) -> None:
    files = prometheus_files("logagg-prod", TARGETS, MonitoringArgs(namespace="logagg-prod"))
    broken = yaml.safe_load(files["prometheus.yml"])
    broken["scrape_configs"][1]["kubernetes_sd_configs"][0]["role"] = "everything"
    files["prometheus.yml"] = yaml.safe_dump(broken)
    assert _check(promtool, _write(tmp_path, files)).returncode != 0
