"""Sampling profiles (py-spy) of the service processes while a benchmark phase runs, summarised as text.

``py-spy record --format raw`` writes collapsed stacks ("frame;frame;... count"); the summary lists
where the samples are: the hottest leaf functions (self time) and the hottest functions anywhere on
the stack (inclusive time), as percentages of the process's active samples.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


class Profiler:
    """py-spy attached to running processes, non-blocking, 50 Hz, active threads only."""

    def __init__(self, pids: dict[str, int], out_dir: Path, phase: str) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        py_spy = Path(sys.executable).parent / "py-spy"
        self.outputs: dict[str, Path] = {}
        self._procs: list[subprocess.Popen[bytes]] = []
        for role, pid in pids.items():
            out = out_dir / f"{phase}-{role}.txt"
            self.outputs[role] = out
            self._procs.append(subprocess.Popen(
                [str(py_spy), "record", "--pid", str(pid), "--rate", "50", "--format", "raw", "--nolineno",
                 "--nonblocking", "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> dict[str, Any]:
        """Stop sampling (SIGINT makes py-spy write its file); returns the summaries per role."""
        for proc in self._procs:
            proc.send_signal(signal.SIGINT)
        for proc in self._procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        return {role: summarise(path) for role, path in self.outputs.items() if path.exists()}


def _short(frame: str) -> str:
    """``func (path/to/module.py)`` → ``module.func``."""
    name, _, where = frame.partition(" (")
    module = where.rstrip(")").rsplit("/", 1)[-1].removesuffix(".py")
    return f"{module}.{name}"


def summarise(path: Path, top: int = 12) -> dict[str, Any]:
    """Top self and inclusive functions (percent of samples) from a raw py-spy file."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        self_time[frames[-1]] += n
        for frame in set(frames[1:]):  # frames[0] is the thread name
            inclusive[frame] += n
    if not total:
        return {"samples": 0}

    def pct(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {"samples": total, "file": str(path), "self_pct": pct(self_time), "inclusive_pct": pct(inclusive)}
