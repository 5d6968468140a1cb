"""The ``hallrate`` command and its subcommands.

Each subcommand lives in the module that owns it and is imported only when
used, so a window device running ``hallrate agent`` loads no hub code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

SUBCOMMANDS = {
    "agent": ("device_agent.main", "run a window device's agent"),
    "hub": ("hub.main", "run a hall's hub"),
    "demo": ("hub.demo", "run a whole hall on this machine"),
    "check-config": ("hub.check_config", "validate configuration files"),
}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one subcommand; returns the exit status."""
    parser = argparse.ArgumentParser(prog="hallrate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(modules[args.command].run(args))


if __name__ == "__main__":
    sys.exit(main())
