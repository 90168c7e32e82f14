"""Bring your own PostgreSQL: the database exists already; its DSN is in a Secret of the namespace.

No PostgreSQL workload is created. The service, the migrations and the backups read the DSN from
`shared-db-dsn` (key `database-url`, e.g. synced by External Secrets), verify the server against
`shared-db-ca`, and the NetworkPolicies let exactly those pods reach the database's IP range.
"""

import pulumi
from logagg_infra.components import ExternalPostgres, LogAggregator, LogAggregatorArgs

config = pulumi.Config()

logs = LogAggregator("logs", LogAggregatorArgs(
    namespace="logs",
    environment="staging",
    image_ref=config.require("imageRef"),
    ingress_host="logs.platform.example.com",
    external_postgres=ExternalPostgres(
        dsn_secret_name="shared-db-dsn",
        ca_secret_name="shared-db-ca",
        host="pg.db.platform.example.com",
        cidr=config.require("databaseCidr"),
        port=5432,
    ),
    kafka_nodes=3,
    consumer_replicas=2,
))

pulumi.export("serviceUrl", logs.service_url)
pulumi.export("ingestApiKey", pulumi.Output.secret(logs.ingest_api_key))
