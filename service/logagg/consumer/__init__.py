"""The Kafka → PostgreSQL consumer (``logagg consumer`` / ``python -m logagg.consumer``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from logagg.consumer.loop import ConsumerSettings


def run_consumer(settings: ConsumerSettings, **kwargs: Any) -> None:
    """Run the consumer until SIGTERM/SIGINT (imported lazily: no Kafka import at package import)."""
    from logagg.consumer.loop import run_consumer as _run

    _run(settings, **kwargs)


__all__ = ["run_consumer"]
