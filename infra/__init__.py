"""The log-aggregator Pulumi program: typed stack config, components and pure Kubernetes helpers.

`infra/__main__.py` is the composition root Pulumi runs; everything else is importable as a library.
"""
