"""Entry point of the ``ffcluster`` console script: parse, build settings, dispatch."""

from __future__ import annotations

import argparse
import importlib
import sys

from cli.errors import CliError
from cli.parser import build_parser
from common.settings import Settings, SettingsError
from common.storage import StorageUnavailable


def _run(args: argparse.Namespace) -> int:
    """Import the subcommand's module only now, so ``web`` can monkey-patch before anything."""
    settings = Settings.from_env()
    module = importlib.import_module(f"cli.{args.command}")
    if args.command != "web":  # `web` configures logging after eventlet's monkey-patching
        from common.logs import configure_logging

        configure_logging(settings.log_level)
    return int(module.run(args, settings))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except (CliError, SettingsError, StorageUnavailable) as exc:
        print(f"ffcluster: {exc}", file=sys.stderr)
        return exc.code if isinstance(exc, CliError) else 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
