"""Secrets stay secret on every rendered stack: never in ConfigMaps, literal env values or command
lines, only in Secrets, and exported only as Pulumi secrets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from policy.logagg_policy.k8s_objects import containers, pod_shape, ref
from tests.infra import render
from tests.infra.mocks import RecordingMocks
from tests.policy import renders

SECRET_NAME = re.compile(r"(?i)(pass(word|wd)?|secret|token|api_?keys?|private_?key|credentials?)")
SECRET_EXPORT = re.compile(r"(?i)(password|secret|key|token|credential|dsn)")
SECRET_VALUE = [
    ("URL with a password", re.compile(r"[a-z][a-z0-9+.\-]*://[^/\s:@]*:[^@\s/]+@")),
    ("PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("password option", re.compile(r"(?i)(--requirepass|--password|password=)\s*\S")),
]
GENERATED = ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString")


def looks_secret(text: str) -> str | None:
    """Why `text` looks like a secret value, or None."""
    for why, pattern in SECRET_VALUE:
        if pattern.search(text):
            return why
    return None


def literal_env(obj: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(container, name, value) of every env entry with a literal value."""
    shape = pod_shape(obj)
    for container in containers(shape.spec if shape else None):
        for entry in container.get("env") or []:
            if "value" in entry:
                yield str(container.get("name")), str(entry["name"]), str(entry["value"])


def command_line(obj: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(container, command + args joined by spaces) of every container."""
    shape = pod_shape(obj)
    for container in containers(shape.spec if shape else None):
        words = [*(container.get("command") or []), *(container.get("args") or [])]
        yield str(container.get("name")), " ".join(map(str, words))


def secret_env_problems(objects: list[dict[str, Any]]) -> list[str]:
    """Literal env values, command lines and ConfigMap entries that carry (or name) a secret."""
    problems = []
    for obj in objects:
        for container, name, value in literal_env(obj):
            if SECRET_NAME.search(name) and not name.endswith("_FILE") and value:
                problems.append(f"{ref(obj)} {container}: env {name} has a literal value")
            if why := looks_secret(value):
                problems.append(f"{ref(obj)} {container}: env {name} holds a {why}")
        for container, line in command_line(obj):
            if why := looks_secret(line):
                problems.append(f"{ref(obj)} {container}: command line holds a {why}")
        if obj["kind"] == "ConfigMap":
            for section in ("data", "binaryData"):
                for key, value in (obj.get(section) or {}).items():
                    if SECRET_NAME.search(key):
                        problems.append(f"{ref(obj)}: key {key} names a secret")
                    if why := looks_secret(str(value)):
                        problems.append(f"{ref(obj)}: key {key} holds a {why}")
    return problems


def generated_values(rendered: render.Rendered) -> list[str]:
    """Every password/string the program generates (the mock's results)."""
    return [RecordingMocks._computed(r.typ, r.name, r.inputs)["result"]
            for r in rendered.mocks.resources if r.typ in GENERATED]


@pytest.mark.parametrize("stack", renders.STACKS)
def test_no_secret_in_configmaps_env_values_or_command_lines(stack: str) -> None:
    objects = renders.rendered(stack).objects
    assert any(True for o in objects for _ in literal_env(o)), f"[{stack}] no env rendered"
    assert secret_env_problems(objects) == []


@pytest.mark.parametrize("stack", renders.STACKS)
def test_generated_secrets_appear_in_no_object_but_secrets(stack: str) -> None:
    rendered = renders.rendered(stack)
    values = generated_values(rendered)
    assert values, f"[{stack}] the program generates no password"
    leaks = [f"{ref(obj)} contains generated value #{i}" for obj in rendered.objects if obj["kind"] != "Secret"
             for i, value in enumerate(values) if value in json.dumps(obj)]
    assert leaks == []


@pytest.mark.parametrize("stack", renders.STACKS)
def test_every_secret_value_is_a_pulumi_secret(stack: str) -> None:
    """Secret data reaches the engine wrapped as secret (so the state file encrypts it)."""
    secrets = renders.rendered(stack).of_kind("Secret")
    assert secrets
    for secret in secrets:
        for section in ("stringData", "data"):
            for key, value in (secret.get(section) or {}).items():
                assert value == render.REDACTED, f"{ref(secret)} {section}.{key} is not a Pulumi secret"


@pytest.mark.parametrize("stack", renders.STACKS)
def test_secret_outputs_are_exported_only_as_pulumi_secrets(stack: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    exports: list[tuple[str, Any]] = []
    monkeypatch.setattr(pulumi, "export", lambda name, value: exports.append((name, value)))
    rendered = render.run_program(stack)
    generated = generated_values(rendered)
    secret_exports = [name for name, _ in exports if SECRET_EXPORT.search(name) and not name.endswith("Name")]
    assert secret_exports, f"[{stack}] exports no credential: {[n for n, _ in exports]}"
    for name, value in exports:
        data = value._data.result() if isinstance(value, pulumi.Output) else None
        is_secret = bool(data and data.is_secret)
        if name in secret_exports:
            assert is_secret, f"[{stack}] export {name} is not a Pulumi secret"
        elif not is_secret:
            plain = json.dumps(data.value if data else value, default=str)
            assert not any(v in plain for v in generated), f"[{stack}] export {name} leaks a secret"


@pytest.mark.parametrize("obj,expected", [
    ({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"LOGAGG_DATABASE_URL": "postgresql://u:pw@h/db"}},
     "holds a URL with a password"),
    ({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"DB_PASSWORD": "x"}}, "names a secret"),
    ({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"tls.key": "-----BEGIN EC PRIVATE KEY-----"}},
     "PEM private key"),
])
def test_scanner_flags_secrets_in_configmaps(obj: dict[str, Any], expected: str) -> None:
    problems = secret_env_problems([obj])
    assert len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize("env,args", [
    ({"name": "GF_SECURITY_ADMIN_PASSWORD", "value": "admin"}, []),
    ({"name": "LOGAGG_REDIS_URL", "value": "redis://:hunter2@redis:6379/0"}, []),
    ({"name": "LOGAGG_ENV", "value": "prod"}, ["redis-server", "--requirepass", "hunter2"]),
])
def test_scanner_flags_secrets_in_env_and_args(env: dict[str, str], args: list[str]) -> None:
    pod = {"kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i", "env": [env], "args": args}]}}
    assert len(secret_env_problems([pod])) >= 1
    safe = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{
        "name": "c", "image": "i", "env": [{"name": "GF_SECURITY_ADMIN_PASSWORD__FILE", "value": "/run/pw"},
                                           {"name": "LOGAGG_DATABASE_URL_FILE", "value": "/etc/x"}]}]}}
    assert secret_env_problems([safe]) == []
