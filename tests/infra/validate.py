"""Schema validation of rendered objects: kubernetes-validate (strict) and CRDs (strict jsonschema)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

CRD_DIR = Path(__file__).resolve().parent / "crds"
OLDEST_K8S = "1.30.0"
"""Oldest Kubernetes version we support."""


def newest_k8s() -> str:
    """The newest Kubernetes version kubernetes-validate ships schemas for."""
    return str(kubernetes_validate.latest_version())


def strict(schema: Any) -> Any:
    """Copy of an OpenAPI schema where objects with `properties` reject unknown fields.

    Mirrors the API server's strict field validation: no `additionalProperties` given and no
    `x-kubernetes-preserve-unknown-fields` means unknown fields are errors.
    """
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """`(apiVersion, kind)` → strict schema, from every CRD in `CRD_DIR`."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                # metadata is validated by the API server, not by the CRD schema.
                schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                schemas[(f"{group}/{version['name']}", kind)] = strict(schema)
    return schemas


def is_custom(obj: dict[str, Any]) -> bool:
    """True for objects whose schema comes from a CRD (group contains a dot, not *.k8s.io)."""
    group = obj["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def errors(obj: dict[str, Any], k8s_version: str) -> list[str]:
    """Validation errors of one object (empty when valid)."""
    name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    if is_custom(obj):
        schema = crd_schemas().get((obj["apiVersion"], obj["kind"]))
        if schema is None:
            return [f"{name}: no CRD for {obj['apiVersion']} {obj['kind']} in {CRD_DIR}"]
        validator = jsonschema.Draft7Validator(schema)
        return [f"{name}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))]
    try:
        kubernetes_validate.validate(obj, k8s_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(map(str, exc.path)) or "<root>"
        return [f"{name} (k8s {k8s_version}): {path}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{name} (k8s {k8s_version}): no schema: {exc}"]
    return []
