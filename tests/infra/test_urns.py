"""URN snapshots per stack: renames and re-parenting fail unless aliases keep the old identity."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

from infra.components.namespace import Namespace, NamespaceArgs

from . import stacks, urns
from .mocks import RecordingMocks


@pytest.mark.parametrize("stack", stacks.STACKS)
def test_the_program_matches_its_urn_snapshot(stack: str) -> None:
    found = urns.problems(urns.collect(stack), *urns.read(stack))
    assert found == [], "\n".join(found)


def record(program: Callable[[], None]) -> urns.Registrations:
    """Run a small program under mocks and record its resources."""
    regs = urns.Registrations("test", "proj")
    pulumi.runtime.set_mocks(RecordingMocks(), project="proj", stack="test", preview=False)

    @pulumi.runtime.test
    def run() -> None:
        pulumi.runtime.register_stack_transformation(regs.recorder())
        program()

    run()
    return regs


class Wrapper(pulumi.ComponentResource):
    """A new top-level component a refactor might introduce."""

    def __init__(self, name: str, aliases: list[pulumi.Alias] | None = None) -> None:
        super().__init__("my:index:Wrapper", name, None, None)
        Namespace("team", NamespaceArgs(name="team"),
                  opts=pulumi.ResourceOptions(parent=self, aliases=aliases or []))


def before() -> None:
    Namespace("team", NamespaceArgs(name="team"))


def test_urns_follow_the_engine_rules() -> None:
    regs = record(lambda: Wrapper("w"))
    assert set(regs.current()) == {
        "urn:pulumi:test::proj::my:index:Wrapper::w",
        "urn:pulumi:test::proj::my:index:Wrapper$logagg:index:Namespace::team",
        ("urn:pulumi:test::proj::my:index:Wrapper$logagg:index:Namespace$kubernetes:core/v1:Namespace"
         "::team-namespace"),
    }


def test_reparenting_without_an_alias_is_refused(tmp_path: Path) -> None:
    assert urns.update(record(before), tmp_path) == []
    moved = record(lambda: Wrapper("w"))
    found = urns.problems(moved, *urns.read("test", tmp_path))
    gone = [p for p in found if "is gone" in p]
    assert len(gone) == 2, found  # the component and its child Namespace object
    assert sorted(urns.update(moved, tmp_path)) == sorted(p.split(" ")[0] for p in gone)
    assert urns.update(moved, tmp_path, allow_delete=True) == []  # only when meant


def test_an_alias_keeps_the_identity_of_the_resource_and_its_children(tmp_path: Path) -> None:
    urns.update(record(before), tmp_path)
    moved = record(lambda: Wrapper("w", aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]))
    found = urns.problems(moved, *urns.read("test", tmp_path))
    assert not [p for p in found if "is gone" in p], found
    assert urns.update(moved, tmp_path) == []
    assert urns.problems(moved, *urns.read("test", tmp_path)) == []
    snapshot = (tmp_path / "test.txt").read_text()
    assert ("urn:pulumi:test::proj::logagg:index:Namespace$kubernetes:core/v1:Namespace::team-namespace"
            " -> urn:pulumi:test::proj::my:index:Wrapper$logagg:index:Namespace$kubernetes:core/v1:"
            "Namespace::team-namespace") in snapshot
    # Dropping the alias later is caught too.
    found = urns.problems(record(lambda: Wrapper("w")), *urns.read("test", tmp_path))
    assert any("alias that keeps this identity was removed" in p for p in found), found


def test_a_renamed_component_renames_its_children_with_the_alias(tmp_path: Path) -> None:
    urns.update(record(before), tmp_path)
    renamed = record(lambda: Namespace("tenant", NamespaceArgs(name="team"),
                                       opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="team")])))
    found = urns.problems(renamed, *urns.read("test", tmp_path))
    assert not [p for p in found if "is gone" in p], found
    unaliased = record(lambda: Namespace("tenant", NamespaceArgs(name="team")))
    assert len([p for p in urns.problems(unaliased, *urns.read("test", tmp_path)) if "is gone" in p]) == 2
