"""log-aggregator's own CrossGuard rules: pure functions over Kubernetes objects plus their Pulumi wrappers."""
