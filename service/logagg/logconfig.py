"""Structured JSON logging for every command of the service (level from LOGAGG_LOG_LEVEL)."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _DropColorMessage(logging.Filter):
    """uvicorn attaches an ANSI-coloured copy of its message; JSON logs do not want it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


def configure_logging(level: str = "info") -> None:
    """Send every log record to stderr as one JSON object per line; idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            _FORMAT,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_logagg", False):
            root.removeHandler(old)
    handler.addFilter(_DropColorMessage())
    handler._logagg = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn installs its own plain-text handlers; route its records through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    # Our own access log (logagg.access) replaces uvicorn's, which would log query strings.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
