"""The start/stop/close lifecycle that the local PostgreSQL server and Kafka broker share."""

from __future__ import annotations

import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from tests.localsvc import processes


class LocalServer(ABC):
    """One server process with a home directory: `start()`, `stop()`, `restart()`, `close()`, `with`.

    Subclasses say how to prepare, launch, wait for and find their process; this class runs the
    lifecycle around that and removes a home directory it created itself on `close()`.
    """

    #: Name in startup errors.
    what: ClassVar[str]
    #: Signal for an orderly shutdown and how long to wait for it before SIGKILL.
    stop_signal: ClassVar[int]
    stop_timeout: ClassVar[float]

    def __init__(
        self, home: Path | None, *, temp_prefix: str, persistent: bool
    ) -> None:
        self._owns_dir = home is None
        self._home = Path(home or processes.make_temp_dir(temp_prefix))
        self.persistent = persistent
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    @abstractmethod
    def log_path(self) -> Path:
        """Where the process writes its output."""

    @abstractmethod
    def prepare(self) -> None:
        """Create on-disk state on first use; safe to call again."""

    @abstractmethod
    def launch(self) -> None:
        """Start the process unless it runs (call from a long-lived thread, see processes.spawn)."""

    @abstractmethod
    def wait_ready(self, timeout: float = 60) -> None:
        """Block until the server serves clients (subclasses pick their own default timeout)."""

    @abstractmethod
    def pid(self) -> int | None:
        """The server's pid, from our child or from a pid file (servers started by another process)."""

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Self:
        """prepare + launch + wait_ready; a no-op when already running."""
        self.prepare()
        self.launch()
        self.wait_ready()
        return self

    def stop(self) -> None:
        """Orderly shutdown (`stop_signal`), keeping the on-disk state for the next start()."""
        pid = self.pid()
        if pid is not None:
            processes.terminate(
                pid, sig=self.stop_signal, timeout=self.stop_timeout, child=self._proc
            )
        self._stopped()
        self._proc = None
        processes.unregister(self)

    def _stopped(self) -> None:
        """Hook run after the process is gone and before `_proc` is forgotten."""

    def restart(self) -> None:
        """stop() + start() on the same port and data."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and delete the home directory if this object created it."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- helpers for subclasses ---------------------------------------------------------------
    def _spawn(
        self, cmd: Sequence[str], *, user: str | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `cmd` as our child; an ephemeral server is also stopped at interpreter exit."""
        self._proc = processes.spawn(
            cmd, log_path=self.log_path, persistent=self.persistent, user=user
        )
        if not self.persistent:
            processes.register(self)
        return self._proc

    def _wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll `ready()`; fail with the log tail if the process died or `timeout` s passed."""
        processes.wait_until(
            ready,
            what=self.what,
            timeout=timeout,
            alive=self._launched_alive,
            log_path=self.log_path,
        )

    # -- state --------------------------------------------------------------------------------
    def is_running(self) -> bool:
        """True when the server process is alive."""
        return self.pid() is not None

    def _launched_alive(self) -> bool:
        return (
            self._proc.poll() is None if self._proc is not None else self.is_running()
        )
