"""Pure helpers: image pinning, Kafka replication rules, DSN building."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.components import kafka, postgres
from infra.k8s import is_pinned_image

from . import render_diff


@pytest.mark.parametrize(("ref", "pinned"), [
    ("apache/kafka:4.1.2", True),
    ("ghcr.io/acme/app@sha256:" + "0" * 64, True),
    ("ghcr.io/acme/app:1.2@sha256:" + "0" * 64, True),
    ("localhost:5000/app:1.0", True),
    ("postgres", False),
    ("postgres:latest", False),
    ("localhost:5000/app", False),
    ("ghcr.io/acme/app@sha256:short", False),
])
def test_is_pinned_image(ref: str, pinned: bool) -> None:
    assert is_pinned_image(ref) is pinned


@pytest.mark.parametrize(("nodes", "rf", "isr"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)])
def test_replication_factor_and_min_isr(nodes: int, rf: int, isr: int) -> None:
    assert kafka.replication_factor(nodes) == rf
    assert kafka.min_insync_replicas(nodes) == isr


@pytest.mark.parametrize(("limit", "heap"), [("2Gi", "1024m"), ("768Mi", "384m"),
                                             ("1G", "476m"), ("256Mi", "256m")])
def test_kafka_heap_is_half_the_memory_limit(limit: str, heap: str) -> None:
    assert kafka.heap_for(limit) == heap


def test_dsn_escapes_the_password_and_pins_tls() -> None:
    url = postgres.dsn("logagg", "p@ss/word", "db.ns.svc", "logagg", tls_ca_file="/ca/ca.crt")
    assert url == ("postgresql://logagg:p%40ss%2Fword@db.ns.svc:5432/logagg"
                   "?sslmode=verify-full&sslrootcert=/ca/ca.crt")
    assert postgres.dsn("u", "p", "h", "d", tls_ca_file=None).endswith("?sslmode=disable")


def test_render_diff_reports_each_object(tmp_path: Path) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    base.mkdir()
    head.mkdir()
    (base / "ns.Service.a.yaml").write_text("port: 1\n")
    (head / "ns.Service.a.yaml").write_text("port: 2\n")
    (base / "ns.Job.gone.yaml").write_text("x: 1\n")
    (head / "ns.Job.new.yaml").write_text("y: 1\n")
    (base / "same.yaml").write_text("z\n")
    (head / "same.yaml").write_text("z\n")
    lines, counts = render_diff.diff_dirs("prod", base, head)
    assert counts == {"added": 1, "removed": 1, "changed": 1}
    text = "".join(lines)
    assert "--- a/prod/ns.Service.a.yaml\n+++ b/prod/ns.Service.a.yaml" in text
    assert "-port: 1\n+port: 2\n" in text
    assert "+++ /dev/null" in text and "--- /dev/null" in text
    assert "same.yaml" not in text


def test_render_diff_against_head_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    """Checks out HEAD in a temporary worktree, renders both trees, prints a summary per stack."""
    assert render_diff.main(["--base", "HEAD", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert "# render-diff HEAD..working tree" in out
    assert "# dev: " in out and " changed" in out
