"""infra/config.py: typed parsing, and errors that name the key and what is allowed."""

from __future__ import annotations

import pytest
import yaml

from infra import config
from infra.config import ConfigError

from . import render, stacks


class FakeRaw:
    """dict-backed RawConfig."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, key: str) -> str | None:
        return self.values.get(key)


def raw_for(stack: str, **overrides: str | None) -> FakeRaw:
    """The stack's effective config (defaults + stack file) with overrides, keys without project."""
    values, _ = stacks.load(stack)
    plain = {k.split(":", 1)[1]: v for k, v in values.items()}
    for key, value in overrides.items():
        if value is None:
            plain.pop(key, None)
        else:
            plain[key] = value
    return FakeRaw(plain)


@pytest.mark.parametrize("name", stacks.STACKS)
def test_every_stack_file_parses(name: str) -> None:
    cfg = config.parse(raw_for(name))
    assert cfg.environment == name


def test_stack_seeds_match_the_issue() -> None:
    dev, staging, prod = (config.parse(raw_for(s)) for s in stacks.STACKS)
    assert (dev.log_level, dev.kafka_nodes, dev.db_instances) == ("debug", 1, 1)
    assert (staging.log_level, staging.kafka_nodes, staging.db_instances) == ("info", 3, 2)
    assert (prod.log_level, prod.kafka_nodes, prod.db_instances) == ("warning", 3, 3)
    for cfg in (dev, staging, prod):
        r = cfg.service_resources
        assert (r.cpu_request, r.memory_request, r.cpu_limit, r.memory_limit) == (
            "250m", "256Mi", "500m", "512Mi")
    assert prod.db_synchronous and not staging.db_synchronous
    assert not dev.db_operator and staging.db_operator and prod.db_operator


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("kafkaNodes", "three", "'log-aggregator:kafkaNodes' = 'three'; allowed: an integer from 1 to 9"),
    ("kafkaNodes", "0", "allowed: an integer from 1 to 9"),
    ("logLevel", "verbose", "allowed: one of debug, info, warn, warning, error"),
    ("environment", "qa", "allowed: one of dev, staging, prod"),
    ("namespace", "Bad_NS", "'log-aggregator:namespace' = 'Bad_NS'; allowed: a DNS label"),
    ("serviceCpuLimit", "lots", "'log-aggregator:serviceCpuLimit' = 'lots'; allowed: a Kubernetes"),
    ("redisEnabled", "yes", "'log-aggregator:redisEnabled' = 'yes'; allowed: true or false"),
    ("ingressHost", "not a host", "allowed: a DNS host name"),
    ("imageRef", "ghcr.io/acme/logagg:latest", "'log-aggregator:imageRef'"),
    ("imageRef", "ghcr.io/acme/logagg", "never latest"),
])
def test_bad_value_names_key_and_allowed(key: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config.parse(raw_for("dev", **{key: value}))
    assert expected in str(exc.value)


@pytest.mark.parametrize("key", ["environment", "kafkaNodes", "dbInstances", "ingressHost"])
def test_missing_value_names_key(key: str) -> None:
    with pytest.raises(ConfigError, match=f"missing config 'log-aggregator:{key}'"):
        config.parse(raw_for("dev", **{key: None}))


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"consumerReplicas": "4", "kafkaPartitions": "3"},
     "consumerReplicas' = 4; allowed: ≤ kafkaPartitions (3)"),
    ({"apiMinReplicas": "5", "apiMaxReplicas": "4"}, "apiMaxReplicas' = 4; allowed: ≥ apiMinReplicas"),
    ({"dbInstances": "3"}, "dbInstances' = 3; allowed: 1 unless dbOperator is true"),
    ({"dbSynchronous": "true"}, "dbSynchronous' = true; allowed only with dbOperator true"),
])
def test_cross_key_rules(overrides: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config.parse(raw_for("dev", **overrides))
    assert expected in str(exc.value)


def test_pinned_prebuilt_image_is_accepted() -> None:
    ref = "ghcr.io/acme/logagg@sha256:" + "a" * 64
    assert config.parse(raw_for("dev", imageRef=ref)).image_ref == ref


def test_the_program_itself_fails_with_the_config_error() -> None:
    """Same message through the real program (what `pulumi up` would print)."""
    with pytest.raises(ConfigError, match="'log-aggregator:kafkaPartitions' = '-1'"):
        render.run_program("staging", overrides={"kafkaPartitions": "-1"})


def _declared() -> dict[str, dict[str, object]]:
    project = yaml.safe_load((stacks.REPO / "Pulumi.yaml").read_text())
    return {k.split(":", 1)[1]: v for k, v in project["config"].items()}


def test_schema_declares_type_default_and_description() -> None:
    for key, schema in _declared().items():
        assert schema.get("type") in {"string", "integer", "boolean"}, key
        assert str(schema.get("description", "")).strip(), key
        # environment has no default on purpose: a stack must say whether it is prod.
        assert ("default" in schema) is (key != "environment"), key


@pytest.mark.parametrize("name", stacks.STACKS)
def test_stack_files_only_set_declared_keys(name: str) -> None:
    """A typo in Pulumi.<stack>.yaml would otherwise be silently ignored."""
    stack_cfg = yaml.safe_load((stacks.REPO / f"Pulumi.{name}.yaml").read_text())["config"]
    unknown = {k.split(":", 1)[1] for k in stack_cfg} - set(_declared())
    assert not unknown, f"Pulumi.{name}.yaml sets undeclared keys {unknown}"


def test_config_reads_exactly_the_declared_keys() -> None:
    raw = raw_for("prod")
    read: set[str] = set()
    original = raw.get

    def spy(key: str) -> str | None:
        read.add(key)
        return original(key)

    raw.get = spy  # type: ignore[method-assign]
    config.parse(raw)
    assert read == set(_declared())
