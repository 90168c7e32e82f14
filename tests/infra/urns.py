"""URN snapshots: a refactor must not silently change a resource's identity in users' stacks.

    python -m tests.infra.urns [--update] [--allow-delete] [--stack dev]

A resource's URN is `urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>`. Renaming it,
changing its type or moving it to another parent makes `pulumi up` delete the old resource and
create a new one (a new PVC, a new database...) unless the new resource declares `aliases` that
resolve to the old URN. The engine's mock monitor does not see aliases (and builds URNs with only
the immediate parent's type), so this module computes URNs and alias URNs itself from what the
program passes to each resource (a stack transformation sees type, name, parent and `aliases`).

`tests/infra/urns/<stack>.txt` holds one URN per line for every resource of the stack, plus
`<old urn> -> <new urn>` lines for identities kept by an alias. `--update` rewrites it and refuses
to drop a URN that no current resource aliases, unless `--allow-delete` says the resource is meant
to go away.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from . import render, stacks

SNAPSHOTS = Path(__file__).resolve().parent / "urns"
ARROW = " -> "


@dataclass
class Node:
    """One resource as the program declared it."""

    typ: str
    name: str
    parent: Node | None
    aliases: list[Any] = field(default_factory=list)

    def qualified_type(self) -> str:
        """`parentType$...$type`, as the engine builds it (the root stack is not part of it)."""
        return f"{self.parent.qualified_type()}${self.typ}" if self.parent else self.typ


def urn(stack: str, project: str, qualified_type: str, name: str) -> str:
    """The engine's URN."""
    return f"urn:pulumi:{stack}::{project}::{qualified_type}::{name}"


def _type_of(u: str) -> str:
    return u.split("::")[2]


def _name_of(u: str) -> str:
    return u.split("::", 3)[3]


@dataclass
class Registrations:
    """Every resource of one program run, with the URNs it has and the URNs its aliases keep."""

    stack: str
    project: str
    nodes: list[Node] = field(default_factory=list)

    def urn_of(self, node: Node) -> str:
        return urn(self.stack, self.project, node.qualified_type(), node.name)

    def alias_urns(self, node: Node) -> set[str]:
        """Old URNs `node` answers to: its own aliases, and its parent's aliases inherited."""
        out: set[str] = set()
        parent_urns = {self.urn_of(node.parent)} if node.parent else {""}
        for alias in node.aliases:
            if isinstance(alias, str):
                out.add(alias)
                continue
            name = node.name if alias.name is ... else alias.name
            typ = node.typ if alias.type_ is ... else alias.type_
            if alias.parent is ...:
                parents = parent_urns
            elif alias.parent is None:
                parents = {""}
            elif isinstance(alias.parent, str):
                parents = {alias.parent}
            else:
                parents = {self.urn_of(self._node_of(alias.parent))}
            for parent in parents:
                qualified = f"{_type_of(parent)}${typ}" if parent else typ
                out.add(urn(self.stack, self.project, qualified, name))
        if node.parent is not None:
            # The engine derives child aliases from the parent's (a child named after its parent
            # is renamed along with it).
            for old_parent in self.alias_urns(node.parent):
                name = node.name
                parent_name, old_parent_name = node.parent.name, _name_of(old_parent)
                if name.startswith(parent_name):
                    name = old_parent_name + name[len(parent_name):]
                out.add(urn(self.stack, self.project, f"{_type_of(old_parent)}${node.typ}", name))
        return out

    def _node_of(self, resource: Any) -> Node:
        return self._by_resource[id(resource)]

    _by_resource: dict[int, Node] = field(default_factory=dict)

    def recorder(self) -> Callable[[pulumi.ResourceTransformationArgs], None]:
        """A stack transformation that records each resource (it changes nothing)."""

        def record(args: pulumi.ResourceTransformationArgs) -> None:
            opts = args.opts or pulumi.ResourceOptions()
            parent = self._by_resource.get(id(opts.parent)) if opts.parent is not None else None
            node = Node(args.type_, args.name, parent, list(opts.aliases or []))
            self.nodes.append(node)
            self._by_resource[id(args.resource)] = node

        return record

    def current(self) -> dict[str, Node]:
        """URN → resource."""
        return {self.urn_of(n): n for n in self.nodes}

    def kept_by_alias(self) -> dict[str, str]:
        """Old URN → the current URN whose aliases keep it."""
        return {old: self.urn_of(n) for n in self.nodes for old in self.alias_urns(n)}


def collect(stack: str) -> Registrations:
    """Run the real program for `stack` and record every resource."""
    regs = Registrations(stack, stacks.project_name())
    render.run_program(stack, transformations=[regs.recorder()])
    return regs


def read(stack: str, directory: Path = SNAPSHOTS) -> tuple[set[str], dict[str, str]]:
    """(URNs, old → new alias lines) of a snapshot file."""
    plain: set[str] = set()
    arrows: dict[str, str] = {}
    path = directory / f"{stack}.txt"
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if ARROW in line:
            old, new = line.split(ARROW, 1)
            arrows[old.strip()] = new.strip()
        else:
            plain.add(line.strip())
    return plain, arrows


def problems(regs: Registrations, snapshot: set[str], arrows: dict[str, str]) -> list[str]:
    """Why the current program does not match the snapshot (empty: it does)."""
    current, kept = regs.current(), regs.kept_by_alias()
    out = []
    for old in sorted(snapshot - set(current)):
        if old in kept:
            out.append(f"{old} is now {kept[old]} (kept by an alias): record it with --update")
        else:
            out.append(f"{old} is gone: `pulumi up` would DELETE it in users' stacks; add "
                       "`aliases=[...]` to the resource that replaces it, or --update --allow-delete "
                       "if it is meant to go")
    for new in sorted(set(current) - snapshot):
        out.append(f"{new} is new: record it with --update")
    for old, new in sorted(arrows.items()):
        if kept.get(old) != new:
            out.append(f"{old} -> {new}: the alias that keeps this identity was removed")
    return out


def update(regs: Registrations, directory: Path = SNAPSHOTS, allow_delete: bool = False) -> list[str]:
    """Rewrite the snapshot; returns the URNs it refused to drop (nothing is written then)."""
    path = directory / f"{regs.stack}.txt"
    old_plain, old_arrows = read(regs.stack, directory) if path.exists() else (set(), {})
    current, kept = regs.current(), regs.kept_by_alias()
    dropped = [u for u in sorted((old_plain | set(old_arrows)) - set(current)) if u not in kept]
    if dropped and not allow_delete:
        return dropped
    arrows = {old: kept[old] for old in (old_plain | set(old_arrows)) - set(current) if old in kept}
    lines = [f"# URNs of stack {regs.stack}: python -m tests.infra.urns --update (see README, Contributing)",
             *sorted(current), *(f"{o}{ARROW}{n}" for o, n in sorted(arrows.items()))]
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return []


def main(argv: list[str] | None = None) -> int:
    """CLI: check (default) or --update the snapshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", choices=stacks.STACKS)
    parser.add_argument("--update", action="store_true", help="rewrite tests/infra/urns/<stack>.txt")
    parser.add_argument("--allow-delete", action="store_true",
                        help="with --update: drop URNs no alias keeps (the resources are meant to go)")
    args = parser.parse_args(argv)
    status = 0
    for stack in args.stack or list(stacks.STACKS):
        regs = collect(stack)
        if args.update:
            refused = update(regs, allow_delete=args.allow_delete)
            for u in refused:
                print(f"{stack}: refusing to drop {u}: no resource aliases it (add aliases, or "
                      "--allow-delete)", file=sys.stderr)
            status |= bool(refused)
            print(f"{stack}: {len(regs.nodes)} URNs" + (" NOT written" if refused else " written"))
        else:
            found = problems(regs, *read(stack))
            print("\n".join(f"{stack}: {p}" for p in found) or f"{stack}: {len(regs.nodes)} URNs match")
            status |= bool(found)
    return status


if __name__ == "__main__":
    sys.exit(main())
