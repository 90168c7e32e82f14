"""`make dev`: local PostgreSQL + Kafka, migrations, then the API and the consumer until Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from types import FrameType

from tests.localsvc.services import REPO_ROOT, STATE_DIR, LocalServices

API_HOST, API_PORT = "127.0.0.1", 8080
API_KEY_FILE = STATE_DIR / "api-key"
SERVICE_DIR = REPO_ROOT / "service"


def api_keys() -> str:
    """LOGAGG_API_KEYS if set, else the key kept in .local/api-key (generated on first run)."""
    override = os.environ.get("LOGAGG_API_KEYS")
    if override:
        return override
    STATE_DIR.mkdir(exist_ok=True)
    if not API_KEY_FILE.exists():
        API_KEY_FILE.write_text(secrets.token_urlsafe(32) + "\n")
        API_KEY_FILE.chmod(0o600)
    return API_KEY_FILE.read_text().strip()


def _service_env(database_url: str, bootstrap: str, keys: str) -> dict[str, str]:
    pythonpath = os.pathsep.join(
        p for p in (str(SERVICE_DIR), os.environ.get("PYTHONPATH", "")) if p
    )
    return {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "LOGAGG_ENV": "dev",
        "LOGAGG_DATABASE_URL": database_url,
        "LOGAGG_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LOGAGG_API_KEYS": keys,
    }


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in children.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run() -> int:
    """Run the service locally; returns the exit status."""
    if not (SERVICE_DIR / "logagg" / "__main__.py").exists():
        print(
            "service/logagg/__main__.py is missing: the `logagg` command is not written yet",
            file=sys.stderr,
        )
        return 1
    # Ctrl-C works even when started with SIGINT ignored (`make dev &`); `kill` stops cleanly too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    database_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    local = LocalServices.load()
    started: list[str] = []
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        if not database_url or not bootstrap:
            if not database_url:
                local.postgres.prepare()
            started = _ensure_local(
                local, need_pg=not database_url, need_kafka=not bootstrap
            )
        database_url = database_url or local.postgres.dsn
        bootstrap = bootstrap or local.kafka.bootstrap
        keys = api_keys()
        env = _service_env(database_url, bootstrap, keys)
        print(f"PostgreSQL: {database_url}\nKafka:      {bootstrap}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "logagg", "migrate"],
            env=env,
            cwd=REPO_ROOT,
            check=True,
        )
        for role, args in {
            "api": ["api", "--host", API_HOST, "--port", str(API_PORT)],
            "consumer": ["consumer"],
        }.items():
            children[role] = subprocess.Popen(
                [sys.executable, "-m", "logagg", *args],
                env=env,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        _print_banner(keys)
        while True:
            for role, proc in children.items():
                if proc.poll() is not None:
                    print(
                        f"logagg {role} exited with status {proc.returncode}; stopping",
                        file=sys.stderr,
                    )
                    return proc.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
        return 0
    except subprocess.CalledProcessError as exc:
        print(
            f"{' '.join(map(str, exc.cmd))} failed with status {exc.returncode}",
            file=sys.stderr,
        )
        return exc.returncode
    finally:
        signal.signal(
            signal.SIGINT, signal.SIG_IGN
        )  # a second Ctrl-C must not abort the cleanup
        _stop_children(children)
        # Servers that `make services-up` started stay up; the ones this run started stop with it.
        if "KafkaBroker" in started:
            local.kafka.stop()
        if "PostgresServer" in started:
            local.postgres.stop()


def _ensure_local(
    local: LocalServices, *, need_pg: bool, need_kafka: bool
) -> list[str]:
    from tests.localsvc.services import start_concurrently

    wanted = [
        s for s, need in ((local.postgres, need_pg), (local.kafka, need_kafka)) if need
    ]
    to_start = [s for s in wanted if not s.is_running()]
    start_concurrently(*to_start)
    for server in wanted:
        if server not in to_start:
            server.wait_ready()
    return [type(s).__name__ for s in to_start]


def _print_banner(keys: str) -> None:
    key = keys.split(",")[0].split("\n")[0].split(":")[0].strip()
    base = f"http://{API_HOST}:{API_PORT}"
    print(
        f"\nlogagg dev is running: API {base}, consumer metrics http://127.0.0.1:9090/metrics\n"
        f"API key: {key}   (kept in {API_KEY_FILE.relative_to(REPO_ROOT)}; override with LOGAGG_API_KEYS)\n"
        f"try:\n"
        f"  curl -sS -X POST {base}/v1/logs -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
        f'       -d \'{{"logs": [{{"service": "demo", "level": "info", "message": "hello"}}]}}\'\n'
        f"  curl -sS '{base}/v1/logs?service=demo' -H 'Authorization: Bearer {key}'\n"
        f"Ctrl-C stops everything.\n",
        flush=True,
    )
