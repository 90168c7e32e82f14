"""A throwaway (or persistent) local PostgreSQL server from the Debian binaries."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from tests.localsvc import processes
from tests.localsvc.kafka import cache_root
from tests.localsvc.lifecycle import LocalServer

PG_SYSTEM_USER = "postgres"


def pg_bindir() -> Path:
    """Directory holding initdb/postgres: the newest /usr/lib/postgresql/<ver>/bin, else $PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise FileNotFoundError(
        "PostgreSQL binaries not found; run `make sysdeps` (apt-get install postgresql)"
    )


def initdb_template(bindir: Path) -> Path:
    """An initdb'ed empty cluster cached per PostgreSQL version; copying it beats initdb on a busy box."""
    version = bindir.parent.name
    template = cache_root() / f"postgres-{version}-template"
    if (template / "PG_VERSION").exists():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    with open(template.parent / f".postgres-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (template / "PG_VERSION").exists():
            return template
        run_as = PG_SYSTEM_USER if os.geteuid() == 0 else None
        # initdb runs as `postgres`, which cannot enter root's ~/.cache: build under /tmp, then copy.
        scratch = Path(tempfile.mkdtemp(prefix="logagg-initdb-"))
        try:
            if run_as:
                entry = pwd.getpwnam(run_as)
                os.chown(scratch, entry.pw_uid, entry.pw_gid)
            cmd = [
                str(bindir / "initdb"),
                "-D",
                str(scratch / "data"),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ]
            result = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                user=run_as,
                group=run_as,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
                )
            staging = Path(tempfile.mkdtemp(prefix="template-", dir=template.parent))
            shutil.copytree(scratch / "data", staging / "data", symlinks=True)
            (staging / "data").rename(template)
            staging.rmdir()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return template


class PostgresServer(LocalServer):
    """One PostgreSQL cluster on 127.0.0.1 with an application role and database.

    `start()` runs initdb on first use, `stop()`/`restart()` keep the data; `close()` (or leaving the
    `with` block) stops it and removes a temporary base directory.
    """

    what = "PostgreSQL"
    stop_signal = signal.SIGINT  # fast shutdown
    stop_timeout = 30

    def __init__(
        self,
        base_dir: Path | None = None,
        port: int | None = None,
        *,
        persistent: bool = False,
        durable: bool = False,
        user: str = "logagg",
        password: str = "logagg",
        database: str = "logagg",
    ) -> None:
        super().__init__(base_dir, temp_prefix="logagg-pg-", persistent=persistent)
        self.port = port or processes.free_port()
        # fsync off is fine for disposable test data and makes DDL-heavy tests much faster.
        self.durable = durable
        self.user, self.password, self.database = user, password, database
        self._bindir = pg_bindir()

    # -- layout -------------------------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        """Cluster home: data, socket and log."""
        return self._home

    @property
    def data_dir(self) -> Path:
        """PGDATA."""
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        """Unix socket directory (admin connections use it with trust auth)."""
        return self.base_dir / "sock"

    @property
    def log_path(self) -> Path:
        """Server log."""
        return self.base_dir / "postgres.log"

    @property
    def dsn(self) -> str:
        """libpq URL of the application database, as the service would get it."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def admin_dsn(self) -> str:
        """Superuser connection over the unix socket."""
        return f"host={self.socket_dir} port={self.port} user=postgres dbname=postgres"

    def dsn_for(self, database: str) -> str:
        """Application-role URL for another database on this server."""
        return (
            f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"
        )

    # -- lifecycle ----------------------------------------------------------------------------
    def _run_as(self) -> str | None:
        # initdb and postgres refuse to run as root.
        return PG_SYSTEM_USER if os.geteuid() == 0 else None

    def prepare(self) -> None:
        """Create the cluster on first use (a copy of the cached initdb template); safe to call again."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if (self.data_dir / "PG_VERSION").exists():
            return
        run_as = self._run_as()
        if run_as:
            entry = pwd.getpwnam(run_as)
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.base_dir.chmod(0o755)
        template = initdb_template(self._bindir)
        shutil.copytree(template, self.data_dir, symlinks=True)
        if run_as:
            entry = pwd.getpwnam(run_as)
            for root, dirs, files in os.walk(self.data_dir):
                for name in (root, *(os.path.join(root, n) for n in dirs + files)):
                    os.lchown(name, entry.pw_uid, entry.pw_gid)

    def launch(self) -> None:
        """Start the postmaster (call from a long-lived thread, see processes.spawn)."""
        if self.is_running():
            return
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.socket_dir),
        }
        if not self.durable:
            settings |= {
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            }
        cmd = [
            str(self._bindir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
        ]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        self._spawn(cmd, user=self._run_as())

    def wait_ready(self, timeout: float = 60) -> None:
        """Block until the server answers, then create the application role and database."""
        self._wait_until(self._answers, timeout)
        self._bootstrap()

    def restart(self) -> None:
        """Stop and start again on the same port with the same data (no prepare step)."""
        self.stop()
        self.launch()
        self.wait_ready()

    # -- state --------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """Postmaster pid, from our child or from postmaster.pid (servers started by another process)."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            if processes.pid_alive(pid):
                return pid
        return None

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.admin_dsn, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def _bootstrap(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            role_exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (self.user,)
            ).fetchone()
            if not role_exists:
                # CREATEDB so tests can make throwaway databases through the application DSN.
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                        sql.Identifier(self.user), sql.Literal(self.password)
                    )
                )
            # DROP DATABASE ... WITH (FORCE) of a test database must also be able to end an
            # autovacuum worker that happens to be in it (else: "must be a member of the role whose
            # process is being terminated or member of pg_signal_backend").
            conn.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(self.user)))
            db_exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not db_exists:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(self.database), sql.Identifier(self.user)
                    )
                )
