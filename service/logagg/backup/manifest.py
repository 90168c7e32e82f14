"""The manifest written next to every dump: what the dump should contain and how to check it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

MANIFEST_FORMAT = 1
_ID_FORMAT = "%Y%m%dT%H%M%SZ"


def backup_id_for(moment: datetime) -> str:
    """The backup id (sortable UTC timestamp) for a backup started at `moment`."""
    return moment.astimezone(UTC).strftime(_ID_FORMAT)


def parse_backup_id(backup_id: str) -> datetime:
    """The UTC start time encoded in a backup id; ValueError names the bad id."""
    try:
        return datetime.strptime(backup_id, _ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(
            f"invalid backup id {backup_id!r}: expected UTC time as YYYYMMDDTHHMMSSZ"
        ) from None


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Facts about one backup, recorded at dump time from the dump's own snapshot."""

    backup_id: str
    """Sortable UTC start time, also the object-name stem."""
    started_at: datetime
    """When the snapshot was taken."""
    finished_at: datetime
    """When the dump upload completed."""
    dump_key: str
    """Object key of the dump."""
    size_bytes: int
    """Exact size of the dump object."""
    sha256: str
    """Hex SHA-256 of the dump object, computed while streaming."""
    server_version: str
    """PostgreSQL server version the dump was taken from."""
    pg_dump_version: str
    """`pg_dump --version` of the client that wrote it."""
    database: str
    """Name of the dumped database."""
    table_rows: dict[str, int] = field(default_factory=dict)
    """Exact row count per `schema.table` in the dump's snapshot."""
    newest_log_ts: datetime | None = None
    """Newest log record timestamp in the snapshot (None when there are no logs)."""
    format: int = MANIFEST_FORMAT
    """Manifest schema version."""

    def to_json(self) -> str:
        """Serialise (timestamps as RFC 3339 UTC)."""
        data = asdict(self)
        for key in ("started_at", "finished_at", "newest_log_ts"):
            value = data[key]
            data[key] = value.astimezone(UTC).isoformat() if value is not None else None
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse a manifest; ValueError when it is not one we can read."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unsupported manifest format: {data.get('format')!r}")
        for key in ("started_at", "finished_at", "newest_log_ts"):
            if data.get(key) is not None:
                data[key] = datetime.fromisoformat(data[key])
        data["table_rows"] = {str(k): int(v) for k, v in data.get("table_rows", {}).items()}
        return cls(**data)
