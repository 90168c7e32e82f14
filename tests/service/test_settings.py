"""Settings: prefix and unprefixed names, *_FILE secrets, refusing defaults outside dev, caching."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from logagg.settings import Settings, get_settings
from pydantic import ValidationError

STRONG = "k-0123456789abcdefXYZ"
PROD_ENV = {
    "LOGAGG_ENV": "prod",
    "LOGAGG_DATABASE_URL": "postgresql://logagg:Str0ng-Secret@db:5432/logagg",
    "LOGAGG_KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    "LOGAGG_API_KEYS": f"{STRONG}:ingest",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without any service variable (and an empty settings cache)."""
    import os

    for name in list(os.environ):
        if name.startswith("LOGAGG_") or name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()


def _env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_defaults_in_dev() -> None:
    s = Settings()
    assert (s.env, s.kafka_topic, s.kafka_consumer_group, s.log_level) == (
        "dev", "logs", "logagg-consumer", "info")
    assert (s.retention_days, s.metrics_port, s.max_request_records, s.max_request_bytes) == (
        14, 9090, 10_000, 5 * 1024 * 1024)
    assert len(s.api_keys) == 0 and s.database_url is None


def test_prefixed_and_unprefixed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {"DATABASE_URL": "postgresql://a@h/db", "KAFKA_BOOTSTRAP_SERVERS": "k1:9092, k2:9092",
                       "LOGAGG_LOG_LEVEL": "DEBUG", "LOGAGG_RETENTION_DAYS": "3"})
    s = Settings()
    assert s.database_dsn() == "postgresql://a@h/db"
    assert s.kafka_servers() == ["k1:9092", "k2:9092"]
    assert s.log_level == "debug" and s.retention_days == 3
    monkeypatch.setenv("LOGAGG_DATABASE_URL", "postgresql://b@h/db")
    assert Settings().database_dsn() == "postgresql://b@h/db"  # the prefixed name wins


def test_secret_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"{STRONG}:query\n{STRONG}2\n")
    dsn = tmp_path / "dsn"
    dsn.write_text("postgresql://logagg:Str0ng-Secret@db/logagg\n")
    _env(monkeypatch, {"LOGAGG_API_KEYS_FILE": str(keys), "LOGAGG_DATABASE_URL_FILE": str(dsn),
                       "LOGAGG_DATABASE_URL": "postgresql://ignored@x/y"})
    s = Settings()
    assert s.database_dsn() == "postgresql://logagg:Str0ng-Secret@db/logagg"  # file wins
    assert len(s.api_keys) == 2
    principal = s.api_keys.authenticate(STRONG)
    assert principal is not None and {sc.value for sc in principal.scopes} == {"query"}


def test_missing_secret_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOGAGG_API_KEYS_FILE", str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="LOGAGG_API_KEYS_FILE"):
        Settings()


def test_prod_accepts_strong_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, PROD_ENV)
    assert Settings().env == "prod"


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"LOGAGG_API_KEYS": ""}, "LOGAGG_API_KEYS"),
        ({"LOGAGG_API_KEYS": "changeme"}, "api_keys"),
        ({"LOGAGG_API_KEYS": "short:ingest"}, "api_keys"),
        ({"LOGAGG_DATABASE_URL": "postgresql://logagg:logagg@db/logagg"}, "default password"),
        ({"LOGAGG_DATABASE_URL": "postgresql://logagg@db/logagg"}, "default password"),
        ({"LOGAGG_DATABASE_URL": "host=db user=logagg password=postgres"}, "default password"),
        ({"LOGAGG_DATABASE_URL": ""}, "LOGAGG_DATABASE_URL"),
        ({"LOGAGG_KAFKA_BOOTSTRAP_SERVERS": ""}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({"LOGAGG_REDIS_URL": " "}, "REDIS_URL"),
    ],
)
def test_outside_dev_default_or_empty_secrets_are_refused(
    monkeypatch: pytest.MonkeyPatch, override: dict[str, str], complaint: str
) -> None:
    _env(monkeypatch, PROD_ENV | override)
    with pytest.raises(ValidationError, match=complaint):
        Settings()
    monkeypatch.setenv("LOGAGG_ENV", "staging")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("LOGAGG_ENV", "dev")
    Settings()  # dev tolerates it


def test_errors_never_echo_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, PROD_ENV | {"LOGAGG_API_KEYS": "weak-secret-xyz:ingest,other:bogus"})
    with pytest.raises(ValueError) as info:
        Settings()
    assert "weak-secret-xyz" not in str(info.value) and "bogus" in str(info.value)
    _env(monkeypatch, {"LOGAGG_API_KEYS": "weak-secret-xyz", "LOGAGG_RETENTION_DAYS": "zero"})
    with pytest.raises(ValidationError) as info2:
        Settings()
    assert "weak-secret-xyz" not in str(info2.value) and "Str0ng-Secret" not in str(info2.value)


def test_get_settings_is_cached_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGAGG_KAFKA_TOPIC", "one")
    first = get_settings()
    monkeypatch.setenv("LOGAGG_KAFKA_TOPIC", "two")
    assert get_settings() is first and first.kafka_topic == "one"
    get_settings.cache_clear()
    assert get_settings().kafka_topic == "two"


def test_kafka_ssl_options(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {"LOGAGG_KAFKA_SECURITY_PROTOCOL": "SSL", "LOGAGG_KAFKA_SSL_CAFILE": "/ca.crt"})
    assert Settings().kafka_security_options() == {"security_protocol": "SSL", "ssl_cafile": "/ca.crt"}


SASL_PASSWORD = "kafka-Pa55word-xyz"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "scram-sha-512"])
def test_kafka_sasl_plaintext_options(monkeypatch: pytest.MonkeyPatch, mechanism: str) -> None:
    _env(monkeypatch, {"LOGAGG_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
                       "LOGAGG_KAFKA_SASL_MECHANISM": mechanism,
                       "LOGAGG_KAFKA_SASL_USERNAME": "logagg",
                       "LOGAGG_KAFKA_SASL_PASSWORD": SASL_PASSWORD})
    s = Settings()
    assert s.kafka_security_options() == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism.upper(),
        "sasl_plain_username": "logagg", "sasl_plain_password": SASL_PASSWORD}
    assert SASL_PASSWORD not in repr(s) and SASL_PASSWORD not in str(s.model_dump())


def test_kafka_sasl_ssl_options_from_secret_files(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "username").write_text("svc-user\n")
    (tmp_path / "password").write_text(f"{SASL_PASSWORD}\n")
    _env(monkeypatch, {"LOGAGG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                       "LOGAGG_KAFKA_SSL_CAFILE": "/ca.crt",
                       "LOGAGG_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                       "LOGAGG_KAFKA_SASL_USERNAME_FILE": str(tmp_path / "username"),
                       "LOGAGG_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "password"),
                       "LOGAGG_KAFKA_SASL_PASSWORD": "ignored-env-value"})
    assert Settings().kafka_security_options() == {
        "security_protocol": "SASL_SSL", "ssl_cafile": "/ca.crt",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "svc-user",
        "sasl_plain_password": SASL_PASSWORD}  # the files win over the plain variable


def test_sasl_settings_are_ignored_without_a_sasl_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {"LOGAGG_KAFKA_SASL_MECHANISM": "PLAIN",
                       "LOGAGG_KAFKA_SASL_USERNAME": "u", "LOGAGG_KAFKA_SASL_PASSWORD": "p"})
    assert Settings().kafka_security_options() == {"security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize(("missing", "variable"), [
    ("LOGAGG_KAFKA_SASL_MECHANISM", "LOGAGG_KAFKA_SASL_MECHANISM"),
    ("LOGAGG_KAFKA_SASL_USERNAME", "LOGAGG_KAFKA_SASL_USERNAME"),
    ("LOGAGG_KAFKA_SASL_PASSWORD", "LOGAGG_KAFKA_SASL_PASSWORD"),
])
def test_sasl_protocol_without_credentials_names_the_variable(
        monkeypatch: pytest.MonkeyPatch, missing: str, variable: str) -> None:
    full = {"LOGAGG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LOGAGG_KAFKA_SASL_MECHANISM": "PLAIN",
            "LOGAGG_KAFKA_SASL_USERNAME": "logagg", "LOGAGG_KAFKA_SASL_PASSWORD": SASL_PASSWORD}
    del full[missing]
    _env(monkeypatch, full)
    with pytest.raises(ValidationError) as info:
        Settings()
    message = str(info.value)
    assert variable in message and SASL_PASSWORD not in message
    assert [v for v in ("MECHANISM", "USERNAME", "PASSWORD") if f"SASL_{v}" in message] == [
        missing.rsplit("_", 1)[1]]


@pytest.mark.parametrize(("name", "value"), [
    ("LOGAGG_KAFKA_SECURITY_PROTOCOL", "SASL_GSSAPI"),
    ("LOGAGG_KAFKA_SASL_MECHANISM", "GSSAPI"),
])
def test_unknown_kafka_protocol_or_mechanism_is_refused_without_echoing_the_password(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    _env(monkeypatch, {"LOGAGG_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                       "LOGAGG_KAFKA_SASL_MECHANISM": "PLAIN", "LOGAGG_KAFKA_SASL_USERNAME": "u",
                       "LOGAGG_KAFKA_SASL_PASSWORD": SASL_PASSWORD, name: value})
    with pytest.raises(ValidationError) as info:
        Settings()
    assert name.removeprefix("LOGAGG_").lower() in str(info.value)
    assert SASL_PASSWORD not in str(info.value)


def test_importing_the_app_does_no_io_and_reads_no_settings() -> None:
    """Import with settings that would fail validation: import must not even read them."""
    code = (
        "import logagg.app, logagg.__main__, logagg.deps\n"
        "from logagg.settings import get_settings\n"
        "assert get_settings.cache_info().currsize == 0\n"
        "app = logagg.app.create_app()\n"  # still no clients: those belong to the lifespan
        "assert not hasattr(app.state, 'pool')\n"
    )
    env = {"PYTHONPATH": "service", "LOGAGG_ENV": "prod", "LOGAGG_RETENTION_DAYS": "not-a-number",
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            check=False, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
