"""`python -m logagg api` as a real process: serves, logs JSON without secrets, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.service.conftest import ApiKeys, auth

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_api_command_serves_logs_json_and_stops_on_sigterm(
    api_dsn: str, kafka_bootstrap: str, api_topic: str, api_keys: ApiKeys, tmp_path: Path
) -> None:
    keys_file = tmp_path / "api-keys"
    keys_file.write_text(api_keys.config())
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO / "service"),
        "LOGAGG_DATABASE_URL": api_dsn,
        "LOGAGG_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LOGAGG_KAFKA_TOPIC": api_topic,
        "LOGAGG_API_KEYS_FILE": str(keys_file),  # how Kubernetes mounts it
        "LOGAGG_LOG_LEVEL": "INFO",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "logagg", "api", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        status = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"{url}/health/ready", timeout=5).status_code
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert status == 200
        record = [{"service": "cli", "message": "hello"}]
        response = httpx.post(f"{url}/v1/logs", json=record, headers=auth(api_keys.ingest), timeout=30)
        assert response.status_code == 202
        assert "uvicorn" not in response.headers.get("server", "")
        assert httpx.get(f"{url}/v1/services", headers=auth("wrong"), timeout=5).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    # uvicorn re-raises SIGTERM after its graceful shutdown, so -SIGTERM is a clean exit too.
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()[-2000:]
    lines = [line for line in err.decode().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every log line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(records[0])
    access = [r for r in records if r["logger"] == "logagg.access" and r.get("route") == "/v1/logs"]
    assert access and access[0]["status"] == 202 and access[0]["key_id"].startswith("k_")
    assert any(r["message"] == "api stopped" for r in records)  # the lifespan closed its clients
    everything = out.decode() + err.decode()
    for key in (api_keys.ingest, api_keys.query, api_keys.both):
        assert key not in everything
