"""Two tenants: one LogAggregator per team, each in its own namespace with its own data stores.

Every child resource is named after its LogAggregator (`payments-kafka`, `search-kafka`, ...), so
the two never collide in Pulumi's state; Kubernetes names are per namespace anyway.
"""

import pulumi
from logagg_infra.components import LogAggregator, LogAggregatorArgs

config = pulumi.Config()

for team in ("payments", "search"):
    tenant = LogAggregator(team, LogAggregatorArgs(
        namespace=f"logs-{team}",
        environment="staging",
        image_ref=config.require("imageRef"),
        ingress_host=f"logs.{team}.example.com",
        api_min_replicas=2,
        retention_days=7,
    ))
    pulumi.export(f"{team}ServiceUrl", tenant.service_url)
    pulumi.export(f"{team}IngestApiKey", pulumi.Output.secret(tenant.ingest_api_key))
