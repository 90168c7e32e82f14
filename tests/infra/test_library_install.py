"""pyproject.toml: the components install as `logagg_infra` and work without this repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

from . import stacks

# Runs in a fresh interpreter whose path has the installed package but not this checkout.
PROGRAM = """
import importlib.util, pulumi
assert importlib.util.find_spec("infra") is None, "the checkout leaked onto sys.path"
from logagg_infra.components import LogAggregator, LogAggregatorArgs

class Mocks(pulumi.runtime.Mocks):
    count = 0
    def new_resource(self, args):
        Mocks.count += args.typ.startswith("kubernetes:")
        computed = {"random:index/randomPassword:RandomPassword": {"result": "p" * 32},
                    "random:index/randomId:RandomId": {"hex": "ab", "b64Url": "q" * 22}}
        return args.name + "-id", {**args.inputs, **computed.get(args.typ, {})}
    def call(self, args):
        return {}, None

pulumi.runtime.set_mocks(Mocks(), project="platform", stack="test", preview=False)

@pulumi.runtime.test
def run():
    LogAggregator("logs", LogAggregatorArgs(
        namespace="logs", image_ref="ghcr.io/acme/logagg@sha256:" + "d" * 64,
        ingress_host="logs.acme.example.com"))

run()
print(Mocks.count)
"""


def test_pip_install_gives_an_importable_working_package(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "infra", "docs/components.md"):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (stacks.REPO / name).is_dir() else shutil.copy
        copy(stacks.REPO / name, target)
    site = tmp_path / "site"
    # Dependencies come from this venv (same pins); --no-build-isolation keeps it offline.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(source)],
                   check=True, capture_output=True, text=True)
    (info,) = site.glob("logagg_pulumi-*.dist-info")
    metadata = Parser().parsestr((info / "METADATA").read_text())
    requires = {r.split(">")[0].split("<")[0].split("=")[0].strip().lower()
                for r in metadata.get_all("Requires-Dist") or []}
    assert {"pulumi", "pulumi-kubernetes", "pulumi-random"} <= requires, requires
    assert (site / "logagg_infra" / "monitoring" / "alerts.yaml").exists()
    assert (site / "logagg_infra" / "monitoring" / "dashboards" / "service-overview.json").exists()
    run = subprocess.run([sys.executable, "-c", PROGRAM], check=False, cwd=tmp_path,
                         capture_output=True,
                         text=True, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert int(run.stdout.strip().splitlines()[-1]) > 50
