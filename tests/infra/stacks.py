"""Stack config as the Pulumi CLI would provide it: Pulumi.yaml defaults + Pulumi.<stack>.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")
SECURE_PLACEHOLDER = "mock-secure-value"
"""Stands in for `secure:` values, which only the CLI (with the stack's key) can decrypt."""


def _as_string(value: Any) -> str:
    """Config values as the engine passes them: strings, JSON for objects and lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def load(stack: str, root: Path = REPO) -> tuple[dict[str, str], list[str]]:
    """(`{"project:key": "value"}`, secret keys) for one stack, defaults applied."""
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    name = project["name"]
    values: dict[str, str] = {}
    for key, schema in (project.get("config") or {}).items():
        if isinstance(schema, dict) and "default" in schema:
            values[key] = _as_string(schema["default"])
    stack_file = root / f"Pulumi.{stack}.yaml"
    stack_cfg = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    secret_keys: list[str] = []
    for key, value in stack_cfg.items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full] = SECURE_PLACEHOLDER
            secret_keys.append(full)
        else:
            values[full] = _as_string(value)
    return values, secret_keys


def project_name(root: Path = REPO) -> str:
    """The Pulumi project name (the config namespace)."""
    return str(yaml.safe_load((root / "Pulumi.yaml").read_text())["name"])
