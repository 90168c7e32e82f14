"""Every third-party container image the program deploys, pinned by tag *and* digest.

One table so that an upgrade is one reviewed line, and so the policy gates (checkov CKV_K8S_43, our
CrossGuard `no-unpinned-images`) see a digest on every container. The digests are the multi-arch
index digests that public repositories pin for these tags; our machines cannot reach the registries,
so confirm them once with registry access before the first real deploy:

    for ref in $(python -c 'from infra import images; print(*images.ALL)'); do
      crane digest "${ref%@*}"; done

and update a line whenever a tag is bumped (a tag can be re-pushed; the digest cannot).
"""

from __future__ import annotations

POSTGRES = (
    "postgres:17.6@sha256:00bc86618629af00d2937fdc5a5d63db3ff8450acf52f0636ec813c7f4902929"
)
"""Dev database, the restore-verify scratch server and psql jobs (PostgreSQL 17, like CNPG)."""

CNPG_POSTGRES = (
    "ghcr.io/cloudnative-pg/postgresql:17.6"
    "@sha256:30b304a2e300ed80b6d1b740e4369e9b0f25599fb518de78c01fd9f25531791b"
)
"""Operand image of the CloudNativePG clusters (staging, prod, PITR recoveries)."""

KAFKA = (
    "apache/kafka:4.1.2@sha256:5cc2a2fd93fa2687b44015eee04fb2c3edd9e526bd64bf8bec5ff1e268772e0e"
)
"""Official Apache Kafka image (KRaft brokers and the topic Job)."""

REDIS = (
    "redis:8.2.2-alpine@sha256:59b6e694653476de2c992937ebe1c64182af4728e54bb49e9b7a6c26614d8933"
)
"""Optional shared rate-limit store."""

PROMETHEUS = (
    "prom/prometheus:v3.5.0@sha256:63805ebb8d2b3920190daf1cb14a60871b16fd38bed42b857a3182bc621f4996"
)
"""Bundled Prometheus: 3.5 is the LTS line (rules are unit-tested with promtool 3.16, see Makefile)."""

KUBE_STATE_METRICS = (
    "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.15.0"
    "@sha256:db384bf43222b066c378e77027a675d4cd9911107adba46c2922b3a55e10d6fb"
)
"""Pod restarts and HPA state for the bundled Prometheus."""

POSTGRES_EXPORTER = (
    "quay.io/prometheuscommunity/postgres-exporter:v0.17.1"
    "@sha256:38606faa38c54787525fb0ff2fd6b41b4cfb75d455c1df294927c5f611699b17"
)
"""PostgreSQL metrics in dev (CloudNativePG exports its own on 9187)."""

GRAFANA = (
    "grafana/grafana:11.6.0@sha256:62d2b9d20a19714ebfe48d1bb405086081bc602aa053e28cf6d73c7537640dfb"
)
"""Dashboards and log search."""

PGADMIN = (
    "dpage/pgadmin4:9.2@sha256:52cb72a9e3da275324ca0b9bb3891021366d501aad375db34584a7bca8ce02ff"
)
"""Database administration UI."""

ALL = (
    POSTGRES, CNPG_POSTGRES, KAFKA, REDIS, PROMETHEUS, KUBE_STATE_METRICS, POSTGRES_EXPORTER,
    GRAFANA, PGADMIN,
)
