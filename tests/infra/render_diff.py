"""Per-object diff of the rendered manifests between a git revision and the working tree.

    python -m tests.infra.render_diff --base origin/main [--stack prod] [--keep build/render-diff]

The base revision is checked out into a temporary `git worktree`; both trees are rendered by this
renderer (so a base that predates it still renders), then every stack is compared object by object.
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
import tempfile
from pathlib import Path

from . import stacks


def _render(root: Path, out: Path, stack_args: list[str]) -> None:
    """Render `root` into `out` in a fresh interpreter (each tree imports its own `infra`)."""
    subprocess.run(
        [sys.executable, "-m", "tests.infra.render", "--root", str(root), "--out", str(out),
         *stack_args],
        cwd=stacks.REPO, check=True, stdout=subprocess.DEVNULL)


def _files(directory: Path) -> dict[str, str]:
    return ({p.name: p.read_text() for p in sorted(directory.glob("*.yaml"))}
            if directory.is_dir() else {})


def diff_dirs(label: str, base: Path, head: Path) -> tuple[list[str], dict[str, int]]:
    """Unified diff lines for every object that differs, and counts of added/removed/changed."""
    old, new = _files(base), _files(head)
    lines: list[str] = []
    counts = {"added": 0, "removed": 0, "changed": 0}
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        counts["added" if a is None else "removed" if b is None else "changed"] += 1
        lines += difflib.unified_diff(
            (a or "").splitlines(keepends=True), (b or "").splitlines(keepends=True),
            fromfile=f"a/{label}/{name}" if a is not None else "/dev/null",
            tofile=f"b/{label}/{name}" if b is not None else "/dev/null")
    return lines, counts


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints the diff, returns 0 (differences are not an error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--stack", action="append", choices=stacks.STACKS)
    args = parser.parse_args(argv)
    chosen = args.stack or list(stacks.STACKS)
    stack_args = [a for s in chosen for a in ("--stack", s)]
    with tempfile.TemporaryDirectory(prefix="render-diff-") as tmp:
        tmpdir = Path(tmp)
        worktree = tmpdir / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(worktree), args.base],
                       cwd=stacks.REPO, check=True)
        try:
            _render(worktree, tmpdir / "out-base" / "manifests", stack_args)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)],
                           cwd=stacks.REPO, check=True)
        _render(stacks.REPO, tmpdir / "out-head" / "manifests", stack_args)
        summary = []
        for stack in chosen:
            for kind, sub in (("manifests", "manifests"), ("helm-releases", "helm-releases")):
                lines, counts = diff_dirs(
                    f"{stack}" if kind == "manifests" else f"{stack}/helm",
                    tmpdir / "out-base" / sub / stack, tmpdir / "out-head" / sub / stack)
                sys.stdout.writelines(lines)
                if kind == "manifests":
                    summary.append(f"{stack}: {counts['added']} added, {counts['removed']} "
                                   f"removed, {counts['changed']} changed")
    print(f"\n# render-diff {args.base}..working tree")
    print("\n".join(f"# {line}" for line in summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
