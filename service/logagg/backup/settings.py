"""Settings of the backup tool (environment, prefix ``LOGAGG_``; secrets also as ``*_FILE``).

A class of its own rather than fields on `logagg.settings.Settings`: the backup CronJobs need
only the database and the bucket, and must not have to be given Kafka servers and API keys,
which the service settings rightly require outside dev.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from logagg.settings import ENV_PREFIX, SecretFileSettings

from .retention import RetentionPolicy
from .storage import BucketLocation

#: Settings that may be read from the file named by ``LOGAGG_<NAME>_FILE``.
SECRET_FIELDS = (
    "database_url",
    "backup_s3_access_key_id",
    "backup_s3_secret_access_key",
    "backup_scratch_database_url",
)


class BackupSettings(SecretFileSettings):
    """Where backups go, how long they are kept, and what the verification tolerates."""

    secret_fields = SECRET_FIELDS

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore", hide_input_in_errors=True
    )

    env: str = "dev"
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("LOGAGG_DATABASE_URL", "DATABASE_URL", "database_url"),
    )
    backup_bucket: str | None = Field(default=None, description="S3 bucket for dumps")
    backup_prefix: str = Field(default="logagg", description="key prefix inside the bucket")
    backup_s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint")
    backup_s3_region: str | None = None
    backup_s3_access_key_id: SecretStr | None = None
    backup_s3_secret_access_key: SecretStr | None = None
    backup_keep_daily: int = Field(default=7, ge=0)
    backup_keep_weekly: int = Field(default=4, ge=0)
    backup_rpo_hours: float = Field(default=26.0, gt=0, description="max age of the latest backup")
    backup_part_size_mb: int = Field(default=16, ge=5, le=5000, description="multipart part size")
    backup_pg_bin_dir: str | None = Field(default=None, description="dir with pg_dump/pg_restore")
    backup_scratch_database_url: SecretStr | None = Field(
        default=None, description="DSN of a role with CREATEDB for verify (default: database_url)"
    )

    @model_validator(mode="after")
    def _require_outside_dev(self) -> BackupSettings:
        if self.env.lower() != "dev" and not self.backup_bucket:
            raise ValueError(f"LOGAGG_BACKUP_BUCKET is required when LOGAGG_ENV={self.env}")
        return self

    def database_dsn(self) -> str:
        """The source database DSN; a clear error when unset."""
        if self.database_url is None or not self.database_url.get_secret_value():
            raise ValueError("LOGAGG_DATABASE_URL (or DATABASE_URL, or LOGAGG_DATABASE_URL_FILE) is not set")
        return self.database_url.get_secret_value()

    def scratch_admin_dsn(self) -> str | None:
        """DSN used to create/drop the verification database, when not the source's."""
        value = self.backup_scratch_database_url
        return value.get_secret_value() if value is not None else None

    def bucket_location(self) -> BucketLocation:
        """The configured bucket; a clear error when unset."""
        if not self.backup_bucket:
            raise ValueError("LOGAGG_BACKUP_BUCKET is not set")
        key_id = self.backup_s3_access_key_id
        secret = self.backup_s3_secret_access_key
        return BucketLocation(
            bucket=self.backup_bucket,
            prefix=self.backup_prefix,
            endpoint_url=self.backup_s3_endpoint_url or None,
            region=self.backup_s3_region or None,
            access_key_id=key_id.get_secret_value() if key_id else None,
            secret_access_key=secret.get_secret_value() if secret else None,
        )

    def retention(self) -> RetentionPolicy:
        """The configured keep-daily/keep-weekly policy."""
        return RetentionPolicy(keep_daily=self.backup_keep_daily, keep_weekly=self.backup_keep_weekly)

    def rpo(self) -> timedelta:
        """Recovery point objective as a duration."""
        return timedelta(hours=self.backup_rpo_hours)
