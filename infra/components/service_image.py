"""The service image, built from `service/` by this program and pushed by digest."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker_build as docker_build


@dataclass(frozen=True, kw_only=True)
class ServiceImageArgs:
    """Inputs of a ServiceImage."""

    repository: str
    """Image repository to push to, e.g. ghcr.io/acme/log-aggregator/logagg."""
    tag: str = "main"
    """Tag pushed alongside the digest (workloads never use it)."""
    context: str = "."
    """Build context, relative to the project directory (the repository root)."""
    dockerfile: str = "service/Dockerfile"
    """Dockerfile path, relative to the project directory."""
    platforms: tuple[str, ...] = ("linux/amd64",)
    """Target platforms."""
    prebuilt_ref: str | None = None
    """A pinned image reference to use instead of building (nothing is built when set)."""


def _by_digest(repository: str, digest: str) -> str:
    """`repo@sha256:...` from a repository and a digest."""
    return f"{repository}@{digest}"


def _digest_of(ref: str) -> str:
    """The digest part of a reference, or '' when it is pinned by tag only."""
    return ref.split("@", 1)[1] if "@" in ref else ""


class ServiceImage(pulumi.ComponentResource):
    """Builds and pushes the one service image (API, consumer, migrate, retention)."""

    ref: pulumi.Output[str]
    """Reference to run, pinned by digest (`repo@sha256:...`) unless a prebuilt tag was given."""
    digest: pulumi.Output[str]
    """The sha256 digest of the pushed image ('' for a prebuilt tag-only reference)."""

    def __init__(self, name: str, args: ServiceImageArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:ServiceImage", name, None, opts)
        if args.prebuilt_ref:
            self.ref = pulumi.Output.from_input(args.prebuilt_ref)
        else:
            image = docker_build.Image(
                f"{name}-build",
                context={"location": args.context},
                dockerfile={"location": args.dockerfile},
                platforms=[docker_build.Platform(p) for p in args.platforms],
                tags=[f"{args.repository}:{args.tag}"],
                push=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.ref = image.digest.apply(lambda d: _by_digest(args.repository, d))
        self.digest = self.ref.apply(_digest_of)
        self.register_outputs({"ref": self.ref, "digest": self.digest})
