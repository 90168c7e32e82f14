"""The one Pulumi Mocks class for infra tests and the offline renderer: records every registration."""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import pulumi

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
"""Key of the SDK's secret wrapper dict (value `1b47061264138c4ac30d75fd1eb44270`)."""


@dataclass(frozen=True)
class Registered:
    """One resource registration as the engine would have received it."""

    typ: str
    """Pulumi type token, e.g. `kubernetes:apps/v1:Deployment`."""
    name: str
    """Pulumi resource name (URN name)."""
    inputs: dict[str, Any]
    """Wire-format inputs (camelCase; secrets still wrapped)."""
    custom: bool
    """False for component resources."""


def fake_digest(name: str) -> str:
    """A fixed, name-derived sha256 digest standing in for a pushed image."""
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


class RecordingMocks(pulumi.runtime.Mocks):
    """Returns inputs as outputs (plus plausible computed outputs) and records every resource."""

    def __init__(self) -> None:
        self.resources: list[Registered] = []
        self._lock = threading.Lock()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        inputs = dict(args.inputs)
        outputs = dict(inputs)
        if args.typ.startswith("kubernetes:") and isinstance(inputs.get("metadata"), dict):
            # The real provider auto-names objects without metadata.name (with a random suffix);
            # the mock uses the resource name so renders stay deterministic.
            meta = dict(inputs["metadata"])
            meta.setdefault("name", args.name)
            inputs["metadata"] = outputs["metadata"] = meta
        outputs.update(self._computed(args.typ, args.name, inputs))
        with self._lock:
            self.resources.append(Registered(args.typ, args.name, inputs, bool(args.custom)))
        return f"{args.name}-id", outputs

    @staticmethod
    def _computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Outputs the real providers compute."""
        if typ == "random:index/randomPassword:RandomPassword":
            length = int(inputs.get("length", 16))
            return {"result": (f"mock{name}" * length)[:length].replace("-", "x")}
        if typ == "random:index/randomId:RandomId":
            raw = hashlib.sha256(name.encode()).digest()[: int(inputs.get("byteLength", 8))]
            return {"hex": raw.hex(), "b64Url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
                    "b64Std": base64.b64encode(raw).decode()}
        if typ == "docker-build:index:Image":
            digest = fake_digest(name)
            tags = inputs.get("tags") or ["registry.invalid/image:mock"]
            repo = str(tags[0]).rsplit(":", 1)[0]
            return {"digest": digest, "ref": f"{repo}@{digest}"}
        return {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        return {}, None

    def of_type(self, typ: str) -> list[Registered]:
        """Registrations of one type token."""
        return [r for r in self.resources if r.typ == typ]
