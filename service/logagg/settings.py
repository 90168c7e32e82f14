"""Service configuration: one typed Settings object read from the environment (prefix LOGAGG_).

Secrets may also be given as a file path in `LOGAGG_<NAME>_FILE` (a mounted Kubernetes Secret).
`DATABASE_URL` and `KAFKA_BOOTSTRAP_SERVERS` are read with or without the prefix. Nothing here runs at
import time: call `get_settings()`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from logagg.auth import KeyRing, Scope, parse_entries, weak_keys

ENV_PREFIX = "LOGAGG_"
#: Settings that may come from a file named by `LOGAGG_<NAME>_FILE`.
SECRET_FIELDS = (
    "database_url", "api_keys", "redis_url", "kafka_sasl_username", "kafka_sasl_password"
)
#: Minimum API key length outside dev.
MIN_KEY_LENGTH = 16
_DEFAULT_DB_PASSWORDS = ("postgres", "password", "changeme", "logagg", "secret")

Environment = Literal["dev", "staging", "prod"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class SecretFileSource(PydanticBaseSettingsSource):
    """Reads `LOGAGG_<NAME>_FILE` for the secret settings (file content, trailing newline stripped)."""

    def __init__(
        self, settings_cls: type[BaseSettings], fields: tuple[str, ...] = SECRET_FIELDS
    ) -> None:
        super().__init__(settings_cls)
        self.fields = fields

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: values are produced in bulk by __call__."""
        return None, field_name, False

    def _key(self, name: str) -> str:
        """The input key that wins for this field (its first alias, when it has aliases)."""
        alias = self.settings_cls.model_fields[name].validation_alias
        if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
            return alias.choices[0]
        return name

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in self.fields:
            env_name = f"{ENV_PREFIX}{name.upper()}_FILE"
            path = os.environ.get(env_name)
            if not path:
                continue
            try:
                values[self._key(name)] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"{env_name}: cannot read {path}: {exc.strerror}") from None
        return values


class SecretFileSettings(BaseSettings):
    """Base of our settings classes: the `secret_fields` may also come from `LOGAGG_<NAME>_FILE`."""

    #: Settings that may be read from the file named by `LOGAGG_<NAME>_FILE`.
    secret_fields: ClassVar[tuple[str, ...]] = SECRET_FIELDS

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments win, then `*_FILE` secrets, then plain environment variables."""
        return (
            init_settings,
            SecretFileSource(settings_cls, cls.secret_fields),
            env_settings,
            dotenv_settings,
            file_secret_settings,
        )


class Settings(SecretFileSettings):
    """Every setting of the service (API, consumer, migrate, retention)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        populate_by_name=True,
        extra="ignore",
        arbitrary_types_allowed=True,
        # Error messages must never echo a secret (API keys, DSN passwords).
        hide_input_in_errors=True,
    )

    env: Environment = "dev"
    log_level: LogLevel = "info"

    # --- connections -------------------------------------------------------------------------
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("LOGAGG_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="libpq DSN",
    )
    db_pool_min_size: int = Field(default=1, ge=0)
    db_pool_max_size: int = Field(default=10, ge=1)
    db_statement_timeout_ms: int = Field(default=15_000, ge=0, description="query statement timeout")

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "LOGAGG_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"
        ),
    )
    kafka_topic: str = "logs"
    kafka_consumer_group: str = "logagg-consumer"
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    kafka_ssl_cafile: Path | None = None
    kafka_sasl_mechanism: KafkaSaslMechanism | None = None
    # The username is not secret, but it comes from the same Kubernetes Secret as the password.
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_produce_timeout_seconds: float = Field(
        default=10.0, gt=0, description="how long ingest waits for acks=all before answering 503"
    )
    kafka_max_message_bytes: int = Field(
        default=1_000_000, ge=10_000, description="a batch is split into Kafka messages of this size"
    )

    redis_url: SecretStr | None = None

    # --- API -----------------------------------------------------------------------------------
    api_host: str = "0.0.0.0"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_keys: Annotated[KeyRing, NoDecode] = Field(default_factory=KeyRing)
    rate_limit_per_second: float = Field(default=50.0, gt=0, description="token refill per key")
    rate_limit_burst: int = Field(default=100, ge=1, description="token bucket size per key")
    max_request_records: int = Field(default=10_000, ge=1)
    max_request_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="decoded body")
    query_default_window_seconds: int = Field(default=3600, ge=1)

    # --- consumer, storage, retention ------------------------------------------------------------
    metrics_port: int = Field(default=9090, ge=1, le=65535)
    kafka_health_refresh_seconds: float = Field(
        default=30.0, gt=0, description="how often the consumer refreshes Kafka partition health"
    )
    consumer_max_batch_records: int = Field(default=5000, ge=1)
    consumer_poll_timeout_ms: int = Field(default=500, ge=1)
    consumer_session_timeout_ms: int = Field(
        default=45_000, ge=6000, description="Kafka group session timeout: how soon a dead consumer's partitions move"
    )
    retention_days: int = Field(default=14, ge=1)
    partition_days_ahead: int = Field(
        default=2, ge=1, description="future days for which records are accepted and partitions kept"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("env", mode="before")
    @classmethod
    def _lower_env(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _hash_api_keys(cls, data: Any) -> Any:
        """Turn the configured key text into a KeyRing at once, so no plaintext field survives."""
        if not isinstance(data, dict):
            return data
        raw = data.get("api_keys")
        if isinstance(raw, SecretStr):
            raw = raw.get_secret_value()
        if raw is None or isinstance(raw, KeyRing):
            return data
        if not isinstance(raw, str):
            raise ValueError(  # noqa: TRY004 - pydantic validators must raise ValueError
                "api_keys: expected text 'key[:scope[+scope]]', comma/newline separated"
            )
        entries = parse_entries(raw)
        env = str(data.get("env", os.environ.get(f"{ENV_PREFIX}ENV", "dev"))).lower()
        if env != "dev":
            weak = weak_keys(entries, MIN_KEY_LENGTH)
            if weak:
                raise ValueError(
                    f"api_keys: entries {weak} are shorter than {MIN_KEY_LENGTH} characters or a "
                    f"well-known default; refused when LOGAGG_ENV={env}"
                )
        data = dict(data)
        data["api_keys"] = KeyRing(entries)
        del raw, entries
        return data

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_kafka(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_kafka_sasl(self) -> Settings:
        """SASL protocols need a mechanism, username and password (the password is never echoed)."""
        if not self.kafka_security_protocol.startswith("SASL_"):
            return self
        missing = []
        if self.kafka_sasl_mechanism is None:
            missing.append("LOGAGG_KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
        if not (self.kafka_sasl_username or "").strip():
            missing.append("LOGAGG_KAFKA_SASL_USERNAME (or _FILE)")
        if self.kafka_sasl_password is None or not self.kafka_sasl_password.get_secret_value():
            missing.append("LOGAGG_KAFKA_SASL_PASSWORD (or _FILE)")
        if missing:
            raise ValueError(
                f"LOGAGG_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                + ", ".join(missing)
            )
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        """Outside dev every connection and secret must be configured, and not to a default."""
        if self.env == "dev":
            return self
        problems: list[str] = []
        if self.database_url is None or not self.database_url.get_secret_value().strip():
            problems.append("LOGAGG_DATABASE_URL (or _FILE) is required")
        elif _has_default_password(self.database_url.get_secret_value()):
            problems.append("LOGAGG_DATABASE_URL uses an empty or default password")
        if not self.kafka_bootstrap_servers:
            problems.append("LOGAGG_KAFKA_BOOTSTRAP_SERVERS is required")
        if len(self.api_keys) == 0:
            problems.append("LOGAGG_API_KEYS (or _FILE) must configure at least one key")
        if self.redis_url is not None and not self.redis_url.get_secret_value().strip():
            problems.append("LOGAGG_REDIS_URL is set but empty")
        if problems:
            raise ValueError(f"refused for LOGAGG_ENV={self.env}: " + "; ".join(problems))
        return self

    def database_dsn(self) -> str:
        """The libpq DSN; raises a clear error when it is not configured."""
        if self.database_url is None:
            raise RuntimeError("LOGAGG_DATABASE_URL (or DATABASE_URL) is not set")
        return self.database_url.get_secret_value()

    def kafka_servers(self) -> list[str]:
        """Bootstrap servers as a list; raises a clear error when not configured."""
        if not self.kafka_bootstrap_servers:
            raise RuntimeError("LOGAGG_KAFKA_BOOTSTRAP_SERVERS (or KAFKA_BOOTSTRAP_SERVERS) is not set")
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]

    def kafka_security_options(self) -> dict[str, Any]:
        """kafka-python keyword arguments for the configured security protocol."""
        protocol = self.kafka_security_protocol
        options: dict[str, Any] = {"security_protocol": protocol}
        if protocol in ("SSL", "SASL_SSL") and self.kafka_ssl_cafile is not None:
            options["ssl_cafile"] = str(self.kafka_ssl_cafile)
        if protocol.startswith("SASL_") and self.kafka_sasl_password is not None:
            # kafka-python names these sasl_plain_* for every mechanism, SCRAM included.
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        return options


def _has_default_password(dsn: str) -> bool:
    """True when a URL-style DSN has no password or a well-known default one."""
    from urllib.parse import urlsplit

    if "://" not in dsn:
        # key=value DSN: look for the password keyword.
        pairs = dict(p.split("=", 1) for p in dsn.split() if "=" in p)
        password = pairs.get("password", "")
    else:
        password = urlsplit(dsn).password or ""
    return password == "" or password.lower() in _DEFAULT_DB_PASSWORDS


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (tests call `get_settings.cache_clear()`)."""
    return Settings()


__all__ = ["Environment", "Scope", "Settings", "get_settings"]
