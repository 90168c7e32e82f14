"""Shared fixtures: every stack rendered once per test session."""

from __future__ import annotations

import pytest

from . import render, stacks


@pytest.fixture(scope="session")
def rendered() -> dict[str, render.Rendered]:
    """`stack → Rendered` for dev, staging and prod (the real program under recording mocks)."""
    return {stack: render.run_program(stack) for stack in stacks.STACKS}


@pytest.fixture(params=stacks.STACKS)
def stack(request: pytest.FixtureRequest, rendered: dict[str, render.Rendered]) -> render.Rendered:
    """One rendered stack (tests using it run once per stack)."""
    return rendered[request.param]
