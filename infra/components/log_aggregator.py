"""LogAggregator: the whole system in one component — what a stack (or a platform team's program) creates.

It composes the building blocks (Namespace, ServiceImage, Postgres, Kafka, Redis, Migrations,
IngestionService, Monitoring, Grafana, PgAdmin, ServerTls, Backups, NetworkPolicies), names every
child `<name>-<role>` so two LogAggregators never collide, and passes the objects between them
(secret names, selectors, hosts). Bring your own PostgreSQL or Kafka by setting `external_postgres`
/ `external_kafka`: the matching workload is then not created.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from .. import k8s as kx
from ..monitoring.assets import READONLY_ROLE
from ..monitoring.scrape import ScrapeTarget
from . import backups as bk
from . import network_policies as npol
from .backups import Backups, BackupsArgs, RecoveryArgs, WalArchivingArgs
from .grafana import Grafana, GrafanaArgs
from .ingestion import IngestionService, IngestionServiceArgs
from .kafka import Kafka, KafkaArgs
from .migrations import Migrations, MigrationsArgs
from .monitoring import (
    KSM_PORT,
    POSTGRES_EXPORTER_PORT,
    Monitoring,
    MonitoringArgs,
    PostgresExporterArgs,
)
from .namespace import Namespace, NamespaceArgs
from .pgadmin import PgAdmin, PgAdminArgs
from .postgres import Postgres, PostgresArgs
from .redis import Redis, RedisArgs
from .service_image import ServiceImage, ServiceImageArgs
from .tls import ServerTls, ServerTlsArgs


@dataclass(frozen=True, kw_only=True)
class ExternalPostgres:
    """A PostgreSQL that is not ours: the service, migrations and backups use its DSN Secret."""

    dsn_secret_name: str
    """Secret (in the LogAggregator's namespace) with the libpq DSN under `database-url`."""
    host: str
    """Host name of the server (for Grafana/PgAdmin; the DSN is what the service uses)."""
    cidr: str
    """IP range of the server: NetworkPolicies allow egress to it."""
    port: int = 5432
    """Server port (NetworkPolicy egress port)."""
    ca_secret_name: str | None = None
    """Secret with the server CA under `ca.crt` when the DSN says sslmode=verify-full."""


@dataclass(frozen=True, kw_only=True)
class ExternalKafka:
    """A Kafka that is not ours: bootstrap servers instead of a broker StatefulSet."""

    bootstrap_servers: str
    """`host:port,...` of the brokers."""
    cidr: str
    """IP range of the brokers: NetworkPolicies allow egress to it."""
    ports: tuple[int, ...] = (9092,)
    """Client ports of the brokers (NetworkPolicy egress ports)."""
    tls_ca_secret_name: str | None = None
    """Secret with the brokers' CA under `ca.crt`: clients speak SSL (None = plaintext)."""
    sasl_mechanism: str | None = None
    """SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (None = no SASL)."""
    sasl_secret_name: str | None = None
    """Secret with the SASL `username` and `password` keys (set with sasl_mechanism)."""


@dataclass(frozen=True, kw_only=True)
class BackupSettings:
    """Where and how backups go (logical dumps everywhere; WAL archive with CloudNativePG)."""

    bucket: str = "logagg-backups"
    """S3 bucket of dumps and of the WAL archive."""
    endpoint_url: str | None = None
    """S3-compatible endpoint (None = AWS S3)."""
    region: str = "us-east-1"
    """S3 region."""
    access_key_id: pulumi.Input[str] | None = None
    """S3 access key id (secret); None = the pods' cloud identity."""
    secret_access_key: pulumi.Input[str] | None = None
    """S3 secret access key (secret); set together with `access_key_id`."""
    object_storage_cidr: str = "0.0.0.0/0"
    """IP range of the object store (backup pods' egress)."""
    wal_retention: str = "30d"
    """Recovery window of the WAL archive (CloudNativePG only)."""
    restore_target_time: str | None = None
    """PITR: recover a NEW cluster to this RFC 3339 time (CloudNativePG only; None = no recovery)."""
    restore_cluster_name: str | None = None
    """PITR: name of the new cluster (None = `<postgres>-pitr`)."""
    restore_cutover: bool = False
    """PITR: the recovered cluster becomes the database (service and base backups follow it)."""


@dataclass(frozen=True, kw_only=True)
class LogAggregatorArgs:
    """Inputs of a LogAggregator (every field has a default for a small dev-like system)."""

    namespace: str = "logagg"
    """Kubernetes namespace created for (and holding) everything."""
    environment: str = "dev"
    """dev, staging or prod (LOGAGG_ENV)."""
    log_level: str = "info"
    """Service log level (LOGAGG_LOG_LEVEL)."""
    image_repository: str = "ghcr.io/example/log-aggregator/logagg"
    """Repository the service image is built and pushed to."""
    image_tag: str = "main"
    """Tag pushed with the image (workloads run it by digest)."""
    image_ref: str | None = None
    """A prebuilt pinned image instead of building one."""
    storage_class: str | None = None
    """StorageClass of every PVC (None = cluster default)."""
    kafka_nodes: int = 1
    """KRaft nodes (broker+controller) of the in-cluster Kafka."""
    kafka_partitions: int = 6
    """Partitions of the topic."""
    kafka_topic: str = "logs"
    """Topic for ingested batches."""
    kafka_storage_size: str = "10Gi"
    """PVC size per Kafka node."""
    kafka_resources: kx.ResourceSpec = field(default_factory=lambda: KafkaArgs(namespace="").resources)
    """Requests/limits per Kafka node."""
    external_kafka: ExternalKafka | None = None
    """Bring your own Kafka: no broker is created."""
    db_instances: int = 1
    """PostgreSQL instances (> 1 needs `db_operator`)."""
    db_operator: bool = False
    """Run PostgreSQL as a CloudNativePG Cluster."""
    install_db_operator: bool = True
    """Install the CloudNativePG operator (Helm) when `db_operator`."""
    db_synchronous: bool = False
    """Synchronous replication (CloudNativePG, ≥ 2 instances)."""
    db_storage_size: str = "10Gi"
    """PVC size per PostgreSQL instance."""
    db_resources: kx.ResourceSpec = field(default_factory=lambda: PostgresArgs(namespace="").resources)
    """Requests/limits per PostgreSQL instance."""
    external_postgres: ExternalPostgres | None = None
    """Bring your own PostgreSQL: no database workload is created."""
    service_resources: kx.ResourceSpec = field(default_factory=kx.ResourceSpec)
    """Requests/limits of the API, consumer, retention and migrate containers."""
    api_min_replicas: int = 3
    """HPA minimum of the API."""
    api_max_replicas: int = 10
    """HPA maximum of the API."""
    api_cpu_target: int = 80
    """HPA target CPU utilisation (percent)."""
    consumer_replicas: int = 1
    """Consumer replicas (≤ kafka_partitions)."""
    retention_days: int = 14
    """Days of logs kept."""
    ingress_host: str | None = None
    """Public host of the API (None = no Ingress)."""
    ingress_class_name: str = "nginx"
    """IngressClass of the API Ingress."""
    tls_issuer: str | None = None
    """cert-manager issuer of the Ingress certificate (None = a per-stack CA from pulumi-tls)."""
    tls_issuer_kind: str = "ClusterIssuer"
    """Issuer or ClusterIssuer."""
    redis_enabled: bool = False
    """Deploy Redis for rate limits shared by API replicas."""
    monitoring_mode: str | None = "bundled"
    """`bundled` (own Prometheus), `operator` (kube-prometheus-stack) or None (no monitoring)."""
    prometheus_retention: str = "15d"
    """Bundled Prometheus TSDB retention."""
    prometheus_storage_size: str = "10Gi"
    """Bundled Prometheus PVC size."""
    alertmanager_url: str = ""
    """Alertmanager the bundled Prometheus notifies ('' = none)."""
    runbook_base_url: str = ""
    """Prefix of the runbook links in alerts."""
    grafana_enabled: bool = True
    """Deploy Grafana (needs monitoring)."""
    pgadmin_enabled: bool = False
    """Deploy PgAdmin."""
    network_policies: bool = True
    """Default-deny NetworkPolicies plus the allowed connections."""
    ingress_controller_namespace: str = "ingress-nginx"
    """Namespace of the ingress controller that may reach the API."""
    cnpg_operator_namespace: str = "cnpg-system"
    """Namespace of the CloudNativePG operator."""
    api_server_cidr: str = "0.0.0.0/0"
    """Where the Kubernetes API server is (egress of CNPG instances and Prometheus)."""
    backups: BackupSettings | None = field(default_factory=BackupSettings)
    """Backups (None = none)."""


def readonly_role(password_secret: str) -> dict[str, object]:
    """`Cluster.spec.managed.roles` entry of the read-only log-search role (Grafana, PgAdmin)."""
    return {"name": READONLY_ROLE, "ensure": "present", "login": True, "superuser": False,
            "createdb": False, "createrole": False, "connectionLimit": 10,
            "passwordSecret": {"name": password_secret}}


@dataclass(frozen=True)
class _Database:
    """What the consumers of the database need, whoever runs it."""

    dsn_secret_name: pulumi.Input[str]
    ca_secret_name: pulumi.Input[str] | None
    host: pulumi.Input[str]
    depends_on: list[pulumi.Resource]


class LogAggregator(pulumi.ComponentResource):
    """The log-aggregation system: API + consumer on Kafka and PostgreSQL, monitored, backed up, isolated."""

    namespace: pulumi.Output[str]
    """Name of the namespace."""
    service_url: pulumi.Output[str]
    """Public URL of the API ('' without an Ingress)."""
    api_service_name: pulumi.Output[str]
    """ClusterIP Service of the API."""
    image_ref: pulumi.Output[str]
    """Service image reference (by digest)."""
    image_digest: pulumi.Output[str]
    """Service image digest."""
    kafka_bootstrap_servers: pulumi.Output[str]
    """Bootstrap servers the service uses."""
    kafka_topic: pulumi.Output[str]
    """Topic of ingested batches."""
    database_host: pulumi.Output[str]
    """Host of the database."""
    database_secret_name: pulumi.Output[str]
    """Secret holding the DSN the service uses."""
    database_password: pulumi.Output[str] | None
    """Generated database password (secret; None with bring-your-own PostgreSQL)."""
    ingest_api_key: pulumi.Output[str]
    """API key with scope `ingest` (secret)."""
    query_api_key: pulumi.Output[str]
    """API key with scope `query` (secret)."""
    redis_password: pulumi.Output[str] | None
    """Redis password (secret; None without Redis)."""
    grafana_url: pulumi.Output[str] | None
    """In-cluster Grafana URL (None without Grafana)."""

    def __init__(self, name: str, args: LogAggregatorArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:LogAggregator", name, None, opts)
        self._name, self._args = name, args
        namespace = Namespace(name, NamespaceArgs(name=args.namespace), opts=self._opts())
        self.namespace = namespace.name
        self._in_ns = self._opts(depends_on=[namespace])
        image = ServiceImage(f"{name}-image", ServiceImageArgs(
            repository=args.image_repository, tag=args.image_tag, prebuilt_ref=args.image_ref),
            opts=self._opts())
        self.image_ref, self.image_digest = image.ref, image.digest
        self._postgres: Postgres | None = None
        db = self._create_database()
        self._kafka = self._create_kafka()
        redis = Redis(f"{name}-redis", RedisArgs(namespace=self.namespace),
                      opts=self._in_ns) if args.redis_enabled else None
        self.redis_password = redis.password if redis else None
        migrations = Migrations(f"{name}-migrate", MigrationsArgs(
            namespace=self.namespace, image=image.ref, dsn_secret_name=db.dsn_secret_name,
            db_ca_secret_name=db.ca_secret_name, environment=args.environment,
            log_level=args.log_level, resources=args.service_resources),
            opts=self._opts(depends_on=db.depends_on))
        tls = self._create_tls()
        service = self._create_service(image, db, redis, tls, migrations)
        self.service_url, self.api_service_name = service.url, service.api_service_name
        self.ingest_api_key, self.query_api_key = service.ingest_api_key, service.query_api_key
        backups = self._create_backups(image, db)
        monitoring, grafana, pgadmin = self._create_monitoring(service, db)
        self.grafana_url = grafana.url if grafana else None
        if args.network_policies:
            self._create_network_policies(service, redis, backups, monitoring, grafana, pgadmin)
        self.register_outputs({
            "namespace": self.namespace, "service_url": self.service_url,
            "api_service_name": self.api_service_name, "image_ref": self.image_ref,
            "image_digest": self.image_digest, "kafka_bootstrap_servers": self.kafka_bootstrap_servers,
            "kafka_topic": self.kafka_topic, "database_host": self.database_host,
            "database_secret_name": self.database_secret_name,
            "ingest_api_key": self.ingest_api_key, "query_api_key": self.query_api_key,
        })

    def _opts(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        """Child options: parented here (so providers and aliases propagate), optional ordering."""
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on or [])

    # ---- data stores ---------------------------------------------------------------------
    def _wal_archiving(self) -> WalArchivingArgs | None:
        a, b = self._args, self._args.backups
        if b is None or not a.db_operator or a.external_postgres is not None:
            return None
        return WalArchivingArgs(
            cluster_name=f"{self._name}-postgres",
            destination_path=f"s3://{b.bucket}/{a.environment}/cnpg", retention=b.wal_retention,
            install_plugin=a.install_db_operator, operator_namespace=a.cnpg_operator_namespace)

    def _create_database(self) -> _Database:
        a = self._args
        if a.external_postgres is not None:
            ext = a.external_postgres
            self.database_host = pulumi.Output.from_input(ext.host)
            self.database_secret_name = pulumi.Output.from_input(ext.dsn_secret_name)
            self.database_password = None
            return _Database(ext.dsn_secret_name, ext.ca_secret_name, ext.host, [])
        wal = self._wal_archiving()
        plugins = (bk.wal_archiving_plugin(bk.object_store_name(wal.cluster_name)),) if wal else ()
        grafana = a.monitoring_mode is not None and a.grafana_enabled
        # CloudNativePG owns role passwords: it creates Grafana's read-only role from Grafana's
        # basic-auth Secret (the dev StatefulSet's role Job sets the password itself).
        roles = (readonly_role(f"{self._name}-grafana-db-readonly"),) if grafana else ()
        postgres = Postgres(f"{self._name}-postgres", PostgresArgs(
            namespace=self.namespace, instances=a.db_instances, operator=a.db_operator,
            install_operator=a.install_db_operator, operator_namespace=a.cnpg_operator_namespace,
            synchronous=a.db_synchronous, storage_size=a.db_storage_size,
            storage_class=a.storage_class, resources=a.db_resources, plugins=plugins,
            managed_roles=roles),
            opts=self._in_ns)
        self._postgres = postgres  # _recovery() below needs its password
        self.database_password = postgres.password
        self.database_host = postgres.host
        dsn, ca = postgres.dsn_secret_name, postgres.ca_secret_name if a.db_operator else None
        recovery = self._recovery()
        if recovery is not None and recovery.cutover:
            # PITR cut-over: the service follows the recovered cluster's DSN and CA.
            dsn, ca = f"{recovery.cluster_name}-dsn", f"{recovery.cluster_name}-ca"
        self.database_secret_name = pulumi.Output.from_input(dsn)
        return _Database(dsn, ca, postgres.host, [postgres])

    def _create_kafka(self) -> Kafka | None:
        a = self._args
        if a.external_kafka is not None:
            self.kafka_bootstrap_servers = pulumi.Output.from_input(a.external_kafka.bootstrap_servers)
            self.kafka_topic = pulumi.Output.from_input(a.kafka_topic)
            return None
        kafka = Kafka(f"{self._name}-kafka", KafkaArgs(
            namespace=self.namespace, nodes=a.kafka_nodes, topic=a.kafka_topic,
            partitions=a.kafka_partitions, storage_size=a.kafka_storage_size,
            storage_class=a.storage_class, resources=a.kafka_resources), opts=self._in_ns)
        self.kafka_bootstrap_servers, self.kafka_topic = kafka.bootstrap_servers, kafka.topic
        return kafka

    # ---- the service ---------------------------------------------------------------------
    def _create_tls(self) -> ServerTls | None:
        a = self._args
        if not a.ingress_host:
            return None
        return ServerTls(f"{self._name}-api-tls", ServerTlsArgs(
            namespace=self.namespace, dns_names=(a.ingress_host,),
            secret_name=f"{self._name}-api-tls", issuer=a.tls_issuer,
            issuer_kind=a.tls_issuer_kind), opts=self._in_ns)

    def _create_service(self, image: ServiceImage, db: _Database, redis: Redis | None,
                        tls: ServerTls | None, migrations: Migrations) -> IngestionService:
        a = self._args
        ext_kafka = a.external_kafka
        return IngestionService(self._name, IngestionServiceArgs(
            namespace=self.namespace, image=image.ref,
            kafka_bootstrap_servers=self.kafka_bootstrap_servers, kafka_topic=self.kafka_topic,
            kafka_partitions=a.kafka_partitions,
            kafka_tls_ca_secret_name=ext_kafka.tls_ca_secret_name if ext_kafka else None,
            kafka_sasl_mechanism=ext_kafka.sasl_mechanism if ext_kafka else None,
            kafka_sasl_secret_name=ext_kafka.sasl_secret_name if ext_kafka else None,
            dsn_secret_name=db.dsn_secret_name, db_ca_secret_name=db.ca_secret_name,
            redis_url_secret_name=redis.url_secret_name if redis else None,
            environment=a.environment, log_level=a.log_level, retention_days=a.retention_days,
            resources=a.service_resources, api_min_replicas=a.api_min_replicas,
            api_max_replicas=a.api_max_replicas, api_cpu_target=a.api_cpu_target,
            consumer_replicas=a.consumer_replicas, ingress_host=a.ingress_host,
            ingress_class_name=a.ingress_class_name,
            tls_secret_name=tls.secret_name if tls else None),
            # The rollout waits for the schema (Migrations) and the topic (Kafka's topic Job).
            opts=self._opts(depends_on=[migrations, *([self._kafka] if self._kafka else [])]))

    # ---- backups -------------------------------------------------------------------------
    def _recovery(self) -> RecoveryArgs | None:
        a, b = self._args, self._args.backups
        if b is None or b.restore_target_time is None or self._wal_archiving() is None:
            return None
        source = f"{self._name}-postgres"
        return RecoveryArgs(
            cluster_name=b.restore_cluster_name or f"{source}-pitr", source_cluster=source,
            target_time=b.restore_target_time, owner_secret=f"{source}-owner",
            owner_password=self._postgres.password if self._postgres else None,
            cutover=b.restore_cutover, instances=a.db_instances, storage_size=a.db_storage_size,
            storage_class=a.storage_class, resources=a.db_resources)

    def _create_backups(self, image: ServiceImage, db: _Database) -> Backups | None:
        a, b = self._args, self._args.backups
        if b is None:
            return None
        return Backups(f"{self._name}-backup", BackupsArgs(
            namespace=self.namespace, image=image.ref, dsn_secret_name=db.dsn_secret_name,
            db_ca_secret_name=db.ca_secret_name, environment=a.environment, log_level=a.log_level,
            bucket=b.bucket, prefix=f"logagg/{a.environment}", endpoint_url=b.endpoint_url,
            region=b.region, access_key_id=b.access_key_id, secret_access_key=b.secret_access_key,
            wal_archiving=self._wal_archiving(), recovery=self._recovery()),
            opts=self._opts(depends_on=db.depends_on))

    # ---- monitoring ----------------------------------------------------------------------
    def _create_monitoring(self, service: IngestionService, db: _Database
                           ) -> tuple[Monitoring | None, Grafana | None, PgAdmin | None]:
        a, name = self._args, self._name
        monitoring = grafana = pgadmin = None
        if a.monitoring_mode is not None:
            targets = [ScrapeTarget(job="logagg-api", selector=service.api_selector, port="http"),
                       ScrapeTarget(job="logagg-consumer", selector=service.consumer_selector,
                                    port="metrics")]
            if self._postgres is not None and a.db_operator:
                targets.append(ScrapeTarget(job="cnpg", selector=self._postgres.selector,
                                            port="metrics"))
            exporter = None
            if self._postgres is not None and not a.db_operator:
                exporter = PostgresExporterArgs(host=self._postgres.host,
                                                password_secret_name=f"{name}-postgres-credentials")
            monitoring = Monitoring(name, MonitoringArgs(
                namespace=self.namespace, mode=a.monitoring_mode, app_targets=targets,
                postgres_exporter=exporter, retention=a.prometheus_retention,
                storage_size=a.prometheus_storage_size, storage_class=a.storage_class,
                runbook_base_url=a.runbook_base_url, alertmanager_url=a.alertmanager_url),
                opts=self._in_ns)
            if a.grafana_enabled:
                grafana = Grafana(f"{name}-grafana", GrafanaArgs(
                    namespace=self.namespace, prometheus_url=monitoring.prometheus_url,
                    db_host=db.host, db_owner_dsn_secret_name=db.dsn_secret_name,
                    db_ca_secret_name=db.ca_secret_name,
                    # CloudNativePG manages role passwords declaratively; the dev StatefulSet needs one set.
                    set_readonly_password=not a.db_operator), opts=self._opts(depends_on=db.depends_on))
        if a.pgadmin_enabled:
            pgadmin = PgAdmin(f"{name}-pgadmin", PgAdminArgs(
                namespace=self.namespace, db_host=db.host, db_ca_secret_name=db.ca_secret_name),
                opts=self._in_ns)
        return monitoring, grafana, pgadmin

    # ---- isolation -----------------------------------------------------------------------
    def _create_network_policies(self, service: IngestionService, redis: Redis | None,
                                 backups: Backups | None, monitoring: Monitoring | None,
                                 grafana: Grafana | None, pgadmin: PgAdmin | None) -> None:
        a, name = self._args, self._name
        db_clients = {"migrations": kx.selector_labels("logagg", "migrations", f"{name}-migrate"),
                      "retention": kx.selector_labels("logagg", "retention", name)}
        kafka_clients: dict[str, dict[str, str]] = {}
        if self._kafka is not None:
            kafka_clients["topic-init"] = kx.selector_labels("kafka", "topic-init", f"{name}-kafka")
        object_storage: dict[str, dict[str, str]] = {}
        if backups is not None:
            db_clients["backup"] = backups.selector
            object_storage["backup"] = backups.selector
        if grafana is not None:
            db_clients["grafana-role"] = grafana.role_job_selector
        if pgadmin is not None:
            db_clients["pgadmin"] = pgadmin.selector
        scrape: dict[str, tuple[dict[str, str], tuple[int, ...]]] = {}
        api_clients: dict[str, dict[str, str]] = {}
        prometheus = None
        if monitoring is not None:
            ports = {"postgres-exporter": POSTGRES_EXPORTER_PORT,
                     "kube-state-metrics": KSM_PORT}
            exporters = monitoring.exporter_selectors
            scrape = {job: (selector, (ports[job],)) for job, selector in exporters.items()}
            if "postgres-exporter" in exporters:
                db_clients["postgres-exporter"] = exporters["postgres-exporter"]
            if monitoring.prometheus_selector:
                prometheus = monitoring.prometheus_selector
                api_clients["prometheus"] = prometheus
            if "kube-state-metrics" in exporters:
                api_clients["kube-state-metrics"] = exporters["kube-state-metrics"]
        ext_pg, ext_kafka = a.external_postgres, a.external_kafka
        live, extra_rules = self._database_peers(object_storage, api_clients)
        topology = npol.Topology(
            api=service.api_selector, consumer=service.consumer_selector,
            postgres=live,
            postgres_cidr=ext_pg.cidr if ext_pg else None,
            postgres_port=ext_pg.port if ext_pg else 5432,
            kafka=self._kafka.selector if self._kafka else None,
            kafka_cidr=ext_kafka.cidr if ext_kafka else None,
            kafka_ports=ext_kafka.ports if ext_kafka else (9092,),
            db_clients=db_clients, kafka_clients=kafka_clients,
            redis=redis.selector if redis else None, prometheus=prometheus,
            scrape_targets=scrape, grafana=grafana.selector if grafana else None,
            ingress_controller_namespace=a.ingress_controller_namespace,
            cnpg_operator_namespace=a.cnpg_operator_namespace if a.db_operator and ext_pg is None
            else None,
            api_server_cidr=a.api_server_cidr, api_server_clients=api_clients,
            object_storage_cidr=a.backups.object_storage_cidr if a.backups else None,
            object_storage_clients=object_storage)
        npol.NetworkPolicies(f"{name}-netpol", npol.NetworkPoliciesArgs(
            namespace=self.namespace, rules=npol.log_aggregator_rules(topology) + extra_rules),
            opts=self._in_ns)

    def _database_peers(self, object_storage: dict[str, dict[str, str]],
                        api_clients: dict[str, dict[str, str]]
                        ) -> tuple[dict[str, str] | None, tuple[npol.AllowRule, ...]]:
        """The live database's pods, and rules for a second (PITR) cluster next to it.

        WAL archiving and base backups run in the CloudNativePG instances (barman-cloud sidecar), so
        they reach the object store. During a point-in-time recovery two clusters run: the clients
        use the live one (the recovered one after cut-over); the other still needs the operator,
        its peers, the API server and the object store.
        """
        if self._postgres is None:
            return None, ()
        live, other = self._postgres.selector, None
        recovery = self._recovery()
        if recovery is not None:
            recovered = {"cnpg.io/cluster": recovery.cluster_name}
            live, other = (recovered, live) if recovery.cutover else (live, recovered)
        if self._wal_archiving() is None:
            return live, ()
        object_storage["postgres"] = live
        if other is None:
            return live, ()
        peer = npol.Peer(name="postgres-source" if recovery and recovery.cutover else "postgres-pitr",
                         pods=other)
        object_storage[peer.name] = other
        api_clients[peer.name] = other
        operator = npol.Peer(name="cnpg-operator", namespace={
            "kubernetes.io/metadata.name": self._args.cnpg_operator_namespace})
        return live, (
            npol.AllowRule(source=peer, destination=peer,
                           ports=(npol.POSTGRES_PORT, npol.CNPG_STATUS_PORT)),
            npol.AllowRule(source=operator, destination=peer,
                           ports=(npol.CNPG_STATUS_PORT, npol.POSTGRES_PORT)),
        )
