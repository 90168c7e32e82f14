"""CPU seconds spent by each process of the system under test during a phase, from ``/proc``.

On a 2-core machine every process of the pipeline (load generator, API, Kafka, consumer,
PostgreSQL) competes for the same cores, so "where did the CPU go" answers why a phase ran at the
rate it did. A role's figure covers its process tree: the process itself, its live descendants and
the descendants it already reaped (PostgreSQL backends that ended during the phase count, too).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(ppid, own CPU s, reaped children's CPU s) of ``pid``, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # fields from "state" on (the name may hold spaces)
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return int(fields[1]), (utime + stime) / _TICK, (cutime + cstime) / _TICK


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                tree.setdefault(stat[0], []).append(int(entry.name))
    return tree


def tree_cpu_seconds(pid: int, tree: dict[int, list[int]] | None = None) -> float:
    """CPU seconds of ``pid``'s whole process tree so far (0 when it is gone)."""
    tree = _children() if tree is None else tree
    stat = _stat(pid)
    if stat is None:
        return 0.0
    return stat[1] + stat[2] + sum(tree_cpu_seconds(child, tree) for child in tree.get(pid, ()))


class CpuMeter:
    """CPU seconds per role (process tree) between ``__init__`` and ``stop()``."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start = self._sample()
        self._wall = time.monotonic()

    def _sample(self) -> dict[str, float]:
        tree = _children()
        return {role: tree_cpu_seconds(pid, tree) for role, pid in self._pids.items()}

    def stop(self, **more: float) -> dict[str, float]:
        """CPU seconds per role (plus ``more`` measured elsewhere), their ``total``, and ``wall``."""
        end = self._sample()
        used = {role: round(end[role] - self._start[role], 2) for role in end} | more
        used["total"] = round(sum(used.values()), 2)
        used["wall"] = round(time.monotonic() - self._wall, 2)
        return used
