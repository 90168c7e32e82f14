"""Composition root: load the stack config, build one LogAggregator, export the stack outputs.

Pulumi runs this file with runpy and only `infra/` on sys.path, so the repository root is added
first and the package is imported as `infra` (its modules use relative imports).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import pulumi

from infra import config
from infra.components.log_aggregator import (
    BackupSettings,
    LogAggregator,
    LogAggregatorArgs,
)

PREFIX = "logagg"


def args_from(cfg: config.StackConfig) -> LogAggregatorArgs:
    """The LogAggregator of one stack, field by field from its typed config."""
    backups = BackupSettings(
        bucket=cfg.backup_bucket, endpoint_url=cfg.backup_endpoint_url, region=cfg.backup_region,
        access_key_id=pulumi.Output.secret(cfg.backup_access_key_id) if cfg.backup_access_key_id
        else None,
        secret_access_key=pulumi.Output.secret(cfg.backup_secret_access_key)
        if cfg.backup_secret_access_key else None,
        object_storage_cidr=cfg.object_storage_cidr, wal_retention=cfg.wal_retention,
        restore_target_time=cfg.restore_target_time, restore_cluster_name=cfg.restore_cluster_name,
        restore_cutover=cfg.restore_cutover) if cfg.backups_enabled else None
    return LogAggregatorArgs(
        namespace=cfg.namespace, environment=cfg.environment, log_level=cfg.log_level,
        image_repository=f"{cfg.image_registry}/logagg", image_tag=cfg.image_tag,
        image_ref=cfg.image_ref, storage_class=cfg.storage_class,
        kafka_nodes=cfg.kafka_nodes, kafka_partitions=cfg.kafka_partitions,
        kafka_topic=cfg.kafka_topic, kafka_storage_size=cfg.kafka_storage_size,
        kafka_resources=cfg.kafka_resources,
        db_instances=cfg.db_instances, db_operator=cfg.db_operator,
        install_db_operator=not cfg.db_operator_installed, db_synchronous=cfg.db_synchronous,
        db_storage_size=cfg.db_storage_size, db_resources=cfg.db_resources,
        service_resources=cfg.service_resources, api_min_replicas=cfg.api_min_replicas,
        api_max_replicas=cfg.api_max_replicas, api_cpu_target=cfg.api_cpu_target,
        consumer_replicas=cfg.consumer_replicas, retention_days=cfg.retention_days,
        ingress_host=cfg.ingress_host, ingress_class_name=cfg.ingress_class_name,
        tls_issuer=cfg.tls_issuer, tls_issuer_kind=cfg.tls_issuer_kind,
        redis_enabled=cfg.redis_enabled, monitoring_mode=cfg.monitoring_mode,
        prometheus_retention=cfg.prometheus_retention,
        prometheus_storage_size=cfg.prometheus_storage_size,
        alertmanager_url=cfg.alertmanager_url, runbook_base_url=cfg.runbook_base_url,
        grafana_enabled=cfg.grafana_enabled, pgadmin_enabled=cfg.pgadmin_enabled,
        ingress_controller_namespace=cfg.ingress_controller_namespace,
        api_server_cidr=cfg.api_server_cidr, backups=backups)


if __name__ == "__main__":
    system = LogAggregator(PREFIX, args_from(config.load()))

    pulumi.export("namespace", system.namespace)
    pulumi.export("serviceUrl", system.service_url)
    pulumi.export("apiServiceName", system.api_service_name)
    pulumi.export("imageRef", system.image_ref)
    pulumi.export("imageDigest", system.image_digest)
    pulumi.export("kafkaBootstrapServers", system.kafka_bootstrap_servers)
    pulumi.export("kafkaTopic", system.kafka_topic)
    pulumi.export("databaseHost", system.database_host)
    pulumi.export("databaseSecretName", system.database_secret_name)
    if system.database_password is not None:
        pulumi.export("databasePassword", pulumi.Output.secret(system.database_password))
    pulumi.export("ingestApiKey", pulumi.Output.secret(system.ingest_api_key))
    pulumi.export("queryApiKey", pulumi.Output.secret(system.query_api_key))
    if system.redis_password is not None:
        pulumi.export("redisPassword", pulumi.Output.secret(system.redis_password))
    if system.grafana_url is not None:
        pulumi.export("grafanaUrl", system.grafana_url)
