"""One Pulumi ComponentResource per module; the public API of the components library.

    from logagg_infra.components import LogAggregator, LogAggregatorArgs   # installed package
    from infra.components import LogAggregator, LogAggregatorArgs          # in this repository
"""

from .backups import Backups, BackupsArgs, RecoveryArgs, WalArchivingArgs
from .grafana import Grafana, GrafanaArgs
from .ingestion import IngestionService, IngestionServiceArgs
from .kafka import Kafka, KafkaArgs
from .log_aggregator import (
    BackupSettings,
    ExternalKafka,
    ExternalPostgres,
    LogAggregator,
    LogAggregatorArgs,
)
from .migrations import Migrations, MigrationsArgs
from .monitoring import Monitoring, MonitoringArgs, PostgresExporterArgs
from .namespace import Namespace, NamespaceArgs
from .network_policies import (
    AllowRule,
    NetworkPolicies,
    NetworkPoliciesArgs,
    Peer,
    Topology,
)
from .pgadmin import PgAdmin, PgAdminArgs
from .postgres import Postgres, PostgresArgs
from .redis import Redis, RedisArgs
from .service_image import ServiceImage, ServiceImageArgs
from .tls import ServerTls, ServerTlsArgs

__all__ = [
    "AllowRule", "BackupSettings", "Backups", "BackupsArgs", "ExternalKafka", "ExternalPostgres",
    "Grafana", "GrafanaArgs", "IngestionService", "IngestionServiceArgs", "Kafka", "KafkaArgs",
    "LogAggregator", "LogAggregatorArgs", "Migrations", "MigrationsArgs", "Monitoring",
    "MonitoringArgs", "Namespace", "NamespaceArgs", "NetworkPolicies", "NetworkPoliciesArgs", "Peer",
    "PgAdmin", "PgAdminArgs", "Postgres", "PostgresArgs", "PostgresExporterArgs", "RecoveryArgs",
    "Redis", "RedisArgs", "ServerTls", "ServerTlsArgs", "ServiceImage", "ServiceImageArgs",
    "Topology", "WalArchivingArgs",
]
