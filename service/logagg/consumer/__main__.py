"""``python -m logagg.consumer``: run the consumer with the service settings."""

from __future__ import annotations

from logagg.consumer import run_consumer
from logagg.logconfig import configure_logging
from logagg.settings import get_settings


def main() -> None:
    """Configure logging from the settings and consume until SIGTERM."""
    settings = get_settings()
    configure_logging(settings.log_level)
    run_consumer(settings)


if __name__ == "__main__":
    main()
