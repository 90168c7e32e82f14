"""Offline render: run the real `infra/__main__.py` under recording mocks, write every object as YAML.

    python -m tests.infra.render [--stack dev] [--out build/manifests] [--root <checkout>]

Writes `<out>/<stack>/<namespace>.<Kind>.<name>.yaml` (one object per file, cluster-scoped objects
under `_cluster.`), Helm releases to `<out>/../helm-releases/<stack>/`. Without `--stack` it also
renders every `examples/<name>/` program to `<out>/../examples/<name>/` (its config defaults, the
components imported as the installed package `logagg_infra` would be). Output is deterministic:
sorted keys, integers not floats, every secret value replaced by `<redacted>`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import runpy
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

from . import stacks
from .mocks import SECRET_SIG_KEY, RecordingMocks, Registered

REDACTED = "<redacted>"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


@dataclass
class Rendered:
    """The result of running the program for one stack."""

    stack: str
    mocks: RecordingMocks
    objects: list[dict[str, Any]] = field(default_factory=list)
    """Kubernetes objects, normalised and sorted."""
    helm_releases: list[dict[str, Any]] = field(default_factory=list)
    """Helm Release inputs (chart, version, values), normalised."""
    seconds: float = 0.0
    depends_on: dict[str, list[str]] = field(default_factory=dict)
    """`type::name` → names in its explicit `depends_on` (the mock engine cannot see them)."""
    exports: dict[str, Any] = field(default_factory=dict)
    """Stack outputs (`pulumi.export`), resolved."""
    secret_exports: set[str] = field(default_factory=set)
    """Names of stack outputs that are Pulumi secrets."""

    def find(self, kind: str, name: str) -> dict[str, Any]:
        """The object of `kind` named `name` (AssertionError listing what exists otherwise)."""
        for obj in self.objects:
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        have = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in self.objects)
        raise AssertionError(f"[{self.stack}] no {kind}/{name}; rendered: {have}")

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Every object of one kind."""
        return [o for o in self.objects if o["kind"] == kind]


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED for k in value}
    if isinstance(value, list):
        return [REDACTED for _ in value]
    return REDACTED


def normalise(value: Any) -> Any:
    """Unwrap the SDK's wire format: redact secrets, integral floats → int, drop nulls."""
    if isinstance(value, dict):
        if SECRET_SIG_KEY in value:
            return _redact(value.get("value"))
        return {k: normalise(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_object(r: Registered) -> bool:
    return (r.custom and r.typ.startswith("kubernetes:") and r.typ != HELM_RELEASE
            and "kind" in r.inputs and "apiVersion" in r.inputs)


def _sort_key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return (meta.get("namespace", ""), obj["kind"], meta.get("name", ""))


Observer = Callable[[pulumi.ResourceTransformationArgs], None]
"""A stack transformation that only looks (e.g. the URN snapshot's recorder)."""


def run_program(stack: str, root: Path = stacks.REPO,
                overrides: dict[str, str | None] | None = None,
                transformations: list[Observer] | None = None) -> Rendered:
    """Run `<root>/infra/__main__.py` for `stack` under mocks; nothing is written.

    `overrides` replaces config values (`{"kafkaNodes": "5"}`; None removes the key);
    `transformations` are registered as stack transformations before the program runs.
    """
    config, secret_keys = stacks.load(stack, root)
    project = stacks.project_name(root)
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(f"{project}:{key}", None)
        else:
            config[f"{project}:{key}"] = value
    return _execute(root / "infra" / "__main__.py", root, project, stack, config, secret_keys,
                    transformations or [])


def example_names(root: Path = stacks.REPO) -> list[str]:
    """Every `examples/<name>/` with a `__main__.py`."""
    return sorted(p.parent.name for p in (root / "examples").glob("*/__main__.py"))


def _alias_installed_package(root: Path) -> None:
    """Make `import logagg_infra` load `<root>/infra` (what `pip install .` maps it to)."""
    if "logagg_infra" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        "logagg_infra", root / "infra" / "__init__.py",
        submodule_search_locations=[str(root / "infra")])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["logagg_infra"] = module
    spec.loader.exec_module(module)


def run_example(name: str, root: Path = stacks.REPO) -> Rendered:
    """Run `<root>/examples/<name>/__main__.py` under mocks with its Pulumi.yaml config defaults."""
    directory = root / "examples" / name
    project = yaml.safe_load((directory / "Pulumi.yaml").read_text())
    config = {key: str(schema["default"]) for key, schema in (project.get("config") or {}).items()
              if isinstance(schema, dict) and "default" in schema}
    _alias_installed_package(root)
    return _execute(directory / "__main__.py", directory, str(project["name"]), name, config, [])


def _observing(observe: Observer) -> Callable[[pulumi.ResourceTransformationArgs], None]:
    """`observe` as a transformation that returns None (the resource is left unchanged)."""

    def transformation(args: pulumi.ResourceTransformationArgs) -> None:
        observe(args)

    return transformation


def _execute(program: Path, project_dir: Path, project: str, stack: str, config: dict[str, str],
             secret_keys: list[str], transformations: list[Observer] | None = None) -> Rendered:
    """Run one Pulumi program under recording mocks and collect what it registered."""
    started = time.perf_counter()
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)
    pulumi.runtime.set_all_config(config, secret_keys)
    root = project_dir
    cwd = os.getcwd()
    depends_on: dict[str, list[str]] = {}

    def _record_depends_on(args: pulumi.ResourceTransformationArgs) -> None:
        deps = args.opts.depends_on if args.opts else None
        if deps:
            listed = deps if isinstance(deps, list) else [deps]
            depends_on[f"{args.type_}::{args.name}"] = sorted(
                getattr(d, "_name", repr(d)) for d in listed)

    exported: dict[str, pulumi.Output[Any]] = {}
    exports: dict[str, Any] = {}
    secret_exports: set[str] = set()
    real_export = pulumi.export

    def _export(name: str, value: Any) -> None:
        exported[name] = pulumi.Output.from_input(value)
        real_export(name, value)

    async def _resolve() -> None:
        for name, output in exported.items():
            exports[name] = await output.future()
            if await output.is_secret():
                secret_exports.add(name)

    @pulumi.runtime.test
    def _run() -> Any:
        pulumi.runtime.register_stack_transformation(_record_depends_on)
        for observe in transformations or []:
            pulumi.runtime.register_stack_transformation(_observing(observe))
        os.chdir(root)  # Pulumi runs the program from the project directory
        pulumi.export = _export  # type: ignore[assignment]
        try:
            runpy.run_path(str(program), run_name="__main__")
        finally:
            pulumi.export = real_export
            os.chdir(cwd)
        return pulumi.Output.from_input(asyncio.ensure_future(_resolve()))

    _run()
    objects = sorted((normalise(r.inputs) for r in mocks.resources if _is_object(r)),
                     key=_sort_key)
    releases = sorted((normalise({"name": r.name, **r.inputs}) for r in mocks.of_type(HELM_RELEASE)),
                      key=lambda rel: rel["name"])
    return Rendered(stack, mocks, objects, releases, time.perf_counter() - started, depends_on,
                    exports, secret_exports)


def file_name(obj: dict[str, Any]) -> str:
    """`<namespace>.<Kind>.<name>.yaml` (`_cluster` for cluster-scoped objects)."""
    meta = obj["metadata"]
    return f"{meta.get('namespace') or '_cluster'}.{obj['kind']}.{meta['name']}.yaml"


def dump(obj: dict[str, Any]) -> str:
    """Stable YAML for one object."""
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, width=100)


def write(rendered: Rendered, out: Path) -> Path:
    """Write one stack's objects to `<out>/<stack>/` (replacing what was there)."""
    target = out / rendered.stack
    helm = out.parent / "helm-releases" / rendered.stack
    for directory in (target, helm):
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
    for obj in rendered.objects:
        path = target / file_name(obj)
        if path.exists():
            raise RuntimeError(f"two objects render to {path.name}")
        path.write_text(dump(obj))
    for release in rendered.helm_releases:
        (helm / f"{release['name']}.yaml").write_text(dump(release))
    return target


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", choices=stacks.STACKS,
                        help="stack to render (repeatable; default: all)")
    parser.add_argument("--out", type=Path, default=Path("build/manifests"))
    parser.add_argument("--root", type=Path, default=stacks.REPO,
                        help="checkout whose program and stack files are rendered")
    parser.add_argument("--examples-out", type=Path, default=None,
                        help="where examples/<name>/ are rendered, only without --stack "
                             "(default: <out>/../examples, i.e. build/examples)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    total = 0.0
    for stack in args.stack or list(stacks.STACKS):
        if not (root / "infra" / "__main__.py").exists() or not (
                root / f"Pulumi.{stack}.yaml").exists():
            print(f"{stack}: no program or stack file under {root}; nothing rendered")
            (args.out / stack).mkdir(parents=True, exist_ok=True)
            continue
        rendered = run_program(stack, root)
        target = write(rendered, args.out)
        total += rendered.seconds
        print(f"{stack}: {len(rendered.objects)} objects, {len(rendered.helm_releases)} Helm "
              f"releases -> {target} ({rendered.seconds:.2f}s)")
    for name in [] if args.stack else example_names(root):
        rendered = run_example(name, root)
        target = write(rendered, args.examples_out or args.out.parent / "examples")
        total += rendered.seconds
        print(f"examples/{name}: {len(rendered.objects)} objects, {len(rendered.helm_releases)} "
              f"Helm releases -> {target} ({rendered.seconds:.2f}s)")
    print(f"rendered in {total:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
