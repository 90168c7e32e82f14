"""Offline render of every stack: schema-valid (strict), deterministic, secrets redacted."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from . import render, validate
from .mocks import RecordingMocks

VERSIONS = (validate.OLDEST_K8S, validate.newest_k8s())


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_passes_strict_schema_validation(stack: render.Rendered,
                                                      version: str) -> None:
    assert stack.objects, f"[{stack.stack}] nothing rendered"
    problems = [e for obj in stack.objects for e in validate.errors(obj, version)]
    assert not problems, f"[{stack.stack}] " + "\n".join(problems)


def test_custom_resources_are_checked_against_their_crd(rendered: dict[str, render.Rendered]) -> None:
    custom = [o for r in rendered.values() for o in r.objects if validate.is_custom(o)]
    kinds = {(o["apiVersion"], o["kind"]) for o in custom}
    assert ("postgresql.cnpg.io/v1", "Cluster") in kinds
    assert kinds <= set(validate.crd_schemas()), f"CRDs missing for {kinds - set(validate.crd_schemas())}"


def test_validation_rejects_unknown_and_mistyped_fields(rendered: dict[str, render.Rendered]) -> None:
    """The validators are strict: a typo'd field fails for built-in kinds and for CRDs."""
    prod = rendered["prod"]
    deployment = copy.deepcopy(prod.find("Deployment", "logagg-api"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    assert validate.errors(deployment, validate.OLDEST_K8S)
    cluster = copy.deepcopy(prod.find("Cluster", "logagg-postgres"))
    cluster["spec"]["instance"] = 3
    assert any("instance" in e for e in validate.errors(cluster, validate.OLDEST_K8S))
    cluster = copy.deepcopy(prod.find("Cluster", "logagg-postgres"))
    cluster["spec"]["postgresql"]["synchronous"]["method"] = "all"
    assert validate.errors(cluster, validate.OLDEST_K8S)


def _walk(value: object) -> list[object]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _walk(v)]
    if isinstance(value, list):
        return [x for v in value for x in _walk(v)]
    return [value]


def test_numbers_are_integers(stack: render.Rendered) -> None:
    floats = [v for o in stack.objects for v in _walk(o) if isinstance(v, float)]
    assert not floats, f"[{stack.stack}] floats in render: {floats}"


def test_generated_secrets_never_appear(stack: render.Rendered) -> None:
    generated = [r.inputs for r in stack.mocks.of_type("random:index/randomPassword:RandomPassword")]
    assert generated, "the program generates passwords"
    secrets_values = {
        str(RecordingMocks._computed("random:index/randomPassword:RandomPassword", r.name,
                                     r.inputs)["result"])
        for r in stack.mocks.of_type("random:index/randomPassword:RandomPassword")}
    text = "".join(render.dump(o) for o in stack.objects)
    leaked = [s for s in secrets_values if s in text]
    assert not leaked, f"[{stack.stack}] generated secret values in the render"
    for secret in stack.of_kind("Secret"):
        values = set(secret.get("stringData", {}).values()) | set(secret.get("data", {}).values())
        assert values == {render.REDACTED}, f"[{stack.stack}] Secret {secret['metadata']['name']}"


def test_render_is_deterministic_and_one_file_per_object(tmp_path: Path) -> None:
    first = render.run_program("prod")
    second = render.run_program("prod")
    assert [render.dump(o) for o in first.objects] == [render.dump(o) for o in second.objects]
    target = render.write(first, tmp_path / "manifests")
    files = sorted(target.glob("*.yaml"))
    assert len(files) == len(first.objects)
    docs = [yaml.safe_load(f.read_text()) for f in files]
    assert sorted(map(render.file_name, docs)) == [f.name for f in files]
    helm = sorted((tmp_path / "helm-releases" / "prod").glob("*.yaml"))
    assert [h.name for h in helm] == ["cnpg.yaml", "plugin-barman-cloud.yaml"]


def test_cli_writes_every_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render.main(["--out", str(tmp_path / "m")]) == 0
    for name in ("dev", "staging", "prod"):
        assert list((tmp_path / "m" / name).glob("*.yaml")), name
    for name in render.example_names():  # next to the stacks: <out>/../examples/<name>/
        assert list((tmp_path / "examples" / name).glob("*.yaml")), name
    assert "rendered in" in capsys.readouterr().out


# ---- examples/: library users' programs, rendered and validated like the stacks ---------------
@pytest.fixture(scope="module", params=render.example_names())
def example(request: pytest.FixtureRequest) -> render.Rendered:
    """One `examples/<name>/` program under mocks."""
    return render.run_example(request.param)


def test_there_are_examples() -> None:
    assert {"byo-postgres", "two-tenants"} <= set(render.example_names())


@pytest.mark.parametrize("version", VERSIONS)
def test_examples_pass_strict_schema_validation(example: render.Rendered, version: str) -> None:
    assert len(example.objects) > 50, f"[{example.stack}] renders {len(example.objects)} objects"
    problems = [e for obj in example.objects for e in validate.errors(obj, version)]
    assert not problems, f"[examples/{example.stack}] " + "\n".join(problems)


def test_example_secrets_are_redacted_and_files_unique(example: render.Rendered, tmp_path: Path) -> None:
    for secret in example.of_kind("Secret"):
        values = set(secret.get("stringData", {}).values()) | set(secret.get("data", {}).values())
        assert values <= {render.REDACTED}, f"[{example.stack}] Secret {secret['metadata']['name']}"
    target = render.write(example, tmp_path / "examples")
    assert len(list(target.glob("*.yaml"))) == len(example.objects)

