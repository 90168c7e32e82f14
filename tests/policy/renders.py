"""Each stack rendered once per test session (the infra renderer, i.e. the real program under mocks)."""

from __future__ import annotations

import functools
from pathlib import Path

from tests.infra import render, stacks

STACKS = stacks.STACKS


@functools.cache
def rendered(stack: str) -> render.Rendered:
    """The real program's objects for `stack` (cached: rendering is deterministic)."""
    return render.run_program(stack)


def write_all(out: Path) -> dict[str, Path]:
    """Write every stack's manifests under `out/<stack>/`; returns the directories by stack."""
    return {stack: render.write(rendered(stack), out) for stack in STACKS}
