"""Composition root: load the stack config, build the components, export the stack outputs.

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
from infra.components.ingestion import IngestionService, IngestionServiceArgs
from infra.components.kafka import Kafka, KafkaArgs
from infra.components.migrations import Migrations, MigrationsArgs
from infra.components.namespace import Namespace, NamespaceArgs
from infra.components.postgres import Postgres, PostgresArgs
from infra.components.redis import Redis, RedisArgs
from infra.components.service_image import ServiceImage, ServiceImageArgs

PREFIX = "logagg"

cfg = config.load()

namespace = Namespace(PREFIX, NamespaceArgs(name=cfg.namespace))
ns = namespace.name
in_ns = pulumi.ResourceOptions(depends_on=[namespace])

image = ServiceImage(f"{PREFIX}-image", ServiceImageArgs(
    repository=f"{cfg.image_registry}/logagg", tag=cfg.image_tag, prebuilt_ref=cfg.image_ref))

postgres = Postgres(f"{PREFIX}-postgres", PostgresArgs(
    namespace=ns, instances=cfg.db_instances, operator=cfg.db_operator,
    install_operator=not cfg.db_operator_installed, synchronous=cfg.db_synchronous,
    storage_size=cfg.db_storage_size, storage_class=cfg.storage_class,
    resources=cfg.db_resources), opts=in_ns)
db_ca = postgres.ca_secret_name if cfg.db_operator else None

kafka = Kafka(f"{PREFIX}-kafka", KafkaArgs(
    namespace=ns, nodes=cfg.kafka_nodes, topic=cfg.kafka_topic, partitions=cfg.kafka_partitions,
    storage_size=cfg.kafka_storage_size, storage_class=cfg.storage_class,
    resources=cfg.kafka_resources), opts=in_ns)

redis = Redis(f"{PREFIX}-redis", RedisArgs(namespace=ns), opts=in_ns) if cfg.redis_enabled else None

migrations = Migrations(f"{PREFIX}-migrate", MigrationsArgs(
    namespace=ns, image=image.ref, dsn_secret_name=postgres.dsn_secret_name,
    db_ca_secret_name=db_ca, environment=cfg.environment, log_level=cfg.log_level,
    resources=cfg.service_resources), opts=pulumi.ResourceOptions(depends_on=[postgres]))

service = IngestionService(PREFIX, IngestionServiceArgs(
    namespace=ns, image=image.ref, kafka_bootstrap_servers=kafka.bootstrap_servers,
    kafka_topic=kafka.topic, kafka_partitions=cfg.kafka_partitions,
    dsn_secret_name=postgres.dsn_secret_name, db_ca_secret_name=db_ca,
    redis_url_secret_name=redis.url_secret_name if redis else None,
    environment=cfg.environment, log_level=cfg.log_level, retention_days=cfg.retention_days,
    resources=cfg.service_resources, api_min_replicas=cfg.api_min_replicas,
    api_max_replicas=cfg.api_max_replicas, api_cpu_target=cfg.api_cpu_target,
    consumer_replicas=cfg.consumer_replicas, ingress_host=cfg.ingress_host,
    ingress_class_name=cfg.ingress_class_name),
    # The rollout waits for the schema (Migrations) and the topic (Kafka's topic Job).
    opts=pulumi.ResourceOptions(depends_on=[migrations, kafka]))

# Hooks for later parts: Monitoring (infra/components/monitoring*.py), NetworkPolicies and Backups
# are composed here from the objects above (namespace, selectors, secret names).

pulumi.export("namespace", ns)
pulumi.export("serviceUrl", service.url)
pulumi.export("apiServiceName", service.api_service_name)
pulumi.export("imageRef", image.ref)
pulumi.export("imageDigest", image.digest)
pulumi.export("kafkaBootstrapServers", kafka.bootstrap_servers)
pulumi.export("kafkaTopic", kafka.topic)
pulumi.export("databaseHost", postgres.host)
pulumi.export("databaseSecretName", postgres.dsn_secret_name)
pulumi.export("databasePassword", pulumi.Output.secret(postgres.password))
pulumi.export("ingestApiKey", pulumi.Output.secret(service.ingest_api_key))
pulumi.export("queryApiKey", pulumi.Output.secret(service.query_api_key))
if redis is not None:
    pulumi.export("redisPassword", pulumi.Output.secret(redis.password))
