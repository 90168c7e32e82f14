"""Pure helpers: image pinning, Kafka replication rules, DSN building."""

from __future__ import annotations

import pytest

from infra.components import kafka, postgres
from infra.k8s import is_pinned_image


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


def test_dsn_escapes_the_password_and_pins_tls() -> None:
    url = postgres.dsn("logagg", "p@ss/word", "db.ns.svc", "logagg", tls_ca_file="/ca/ca.crt")
    assert url == ("postgresql://logagg:p%40ss%2Fword@db.ns.svc:5432/logagg"
                   "?sslmode=verify-full&sslrootcert=/ca/ca.crt")
    assert postgres.dsn("u", "p", "h", "d", tls_ca_file=None).endswith("?sslmode=disable")
