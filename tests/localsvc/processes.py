"""Child-process plumbing shared by the local PostgreSQL and Kafka servers.

Ephemeral servers (tests, benchmarks) die with the Python process that started them, however it ends:
they get PR_SET_PDEATHSIG=SIGKILL through setpriv (covers SIGKILL of pytest) and an atexit hook stops them gracefully
on a normal exit. Persistent servers (`python -m tests.localsvc up`) are detached instead.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol


class Stoppable(Protocol):
    """Anything atexit must stop."""

    def stop(self) -> None: ...


_live: set[Stoppable] = set()
_live_lock = threading.Lock()


def register(server: Stoppable) -> None:
    """Stop `server` at interpreter exit unless it was stopped before."""
    with _live_lock:
        _live.add(server)


def unregister(server: Stoppable) -> None:
    """Forget `server` (it was stopped explicitly)."""
    with _live_lock:
        _live.discard(server)


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):  # best effort: PDEATHSIG is the backstop
            server.stop()


def make_temp_dir(prefix: str) -> Path:
    """A new temp dir tagged with our pid; removes same-prefix dirs whose owner died (e.g. SIGKILLed pytest)."""
    tmp = Path(tempfile.gettempdir())
    for stale in tmp.glob(f"{prefix}*"):
        try:
            owner = int((stale / ".owner-pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being created
        if not pid_alive(owner):
            shutil.rmtree(stale, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=prefix))
    (path / ".owner-pid").write_text(str(os.getpid()))
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing is bound to 127.0.0.1:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def spawn(
    cmd: Sequence[str],
    *,
    log_path: Path,
    persistent: bool,
    user: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own process group, output appended to `log_path`.

    Non-persistent children are killed by the kernel when the *calling thread* exits, so call this
    from a long-lived thread (the main one), never from a short-lived worker thread.
    """
    # setpriv (util-linux) sets PR_SET_PDEATHSIG and execs `cmd` under the same pid; unlike a
    # preexec_fn it is safe while other threads run, and it runs after the setuid so it sticks.
    prefix = [] if persistent else ["setpriv", "--pdeathsig", "KILL", "--"]
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [*prefix, *cmd],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
            env=env,
            cwd=cwd,
        )


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def terminate(
    pid: int, *, sig: int, timeout: float, child: subprocess.Popen[bytes] | None = None
) -> None:
    """Send `sig` to `pid`, wait up to `timeout` s, then SIGKILL its whole process group."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            break
        if child is None and not pid_alive(pid):
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        if child is not None:
            child.wait(timeout=10)
    # Leftover helpers in the group (e.g. PostgreSQL backends) go too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    alive: Callable[[], bool],
    log_path: Path,
    interval: float = 0.1,
) -> None:
    """Poll `ready()` until true; fail fast with the log tail if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if not alive():
            raise RuntimeError(
                f"{what} exited during startup; log {log_path}:\n{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{what} not ready after {timeout:.0f}s; log {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(interval)
