"""``python -m logagg <command>``: the one entry point of the image (the command picks the role).

Commands: ``api``, ``consumer``, ``migrate [apply|rollback|list]``, ``retention``,
``backup run|verify|restore|prune|list``. Every command imports its module lazily, so one role never
pays for (or breaks on) another role's dependencies.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

#: command name → (help text, handler taking the remaining arguments and returning an exit code)
Command = Callable[[list[str]], int]


def _api(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="logagg api", description="Run the HTTP API (uvicorn).")
    parser.add_argument("--host", help="listen address (default LOGAGG_API_HOST, 0.0.0.0)")
    parser.add_argument("--port", type=int, help="listen port (default LOGAGG_API_PORT, 8080)")
    args = parser.parse_args(argv)

    import uvicorn

    from logagg.app import create_app
    from logagg.logconfig import configure_logging
    from logagg.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_config=None,  # keep our JSON logging
        access_log=False,  # logagg.access logs every request instead
        server_header=False,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )
    return 0


def _consumer(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="logagg consumer", description="Kafka → PostgreSQL").parse_args(argv)
    from logagg.consumer import run_consumer
    from logagg.logconfig import configure_logging
    from logagg.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level)
    run_consumer(settings)
    return 0


def _migrate(argv: list[str]) -> int:
    from logagg.logconfig import configure_logging
    from logagg.migrate import main

    configure_logging("info")
    return main(argv)


def _retention(argv: list[str]) -> int:
    argparse.ArgumentParser(
        prog="logagg retention", description="Drop partitions older than LOGAGG_RETENTION_DAYS."
    ).parse_args(argv)
    from logagg.logconfig import configure_logging
    from logagg.retention import run_retention
    from logagg.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level)
    summary = run_retention(settings)
    print(json.dumps(summary.as_dict(), default=str))
    return 0


def _backup(argv: list[str]) -> int:
    from logagg.backup.cli import main

    return main(argv)


COMMANDS: dict[str, tuple[str, Command]] = {
    "api": ("run the HTTP API", _api),
    "consumer": ("run the Kafka → PostgreSQL consumer", _consumer),
    "migrate": ("apply / roll back / list database migrations", _migrate),
    "retention": ("drop expired partitions once", _retention),
    "backup": ("backup run | verify | restore | prune | list", _backup),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the command's handler with the rest of the arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        lines = [f"  {name:<10} {help_text}" for name, (help_text, _) in COMMANDS.items()]
        print("usage: python -m logagg <command> [args]\n\ncommands:\n" + "\n".join(lines))
        if args and args[0] not in ("-h", "--help"):
            print(f"\nunknown command {args[0]!r}", file=sys.stderr)
            return 2
        return 0 if args else 2
    _, handler = COMMANDS[args[0]]
    return handler(args[1:])


if __name__ == "__main__":
    sys.exit(main())
