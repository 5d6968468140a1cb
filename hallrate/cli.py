"""hallrate: satisfaction ratings for government service halls.

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
    "kiosk": ("kiosk.main", "run a touchscreen kiosk's web app"),
    "hub": ("hub.main", "run a hall's hub, or rebuild its counts (hub rebuild)"),
    "demo": ("hallrate.demo", "run a whole hall on this machine"),
    "sample-hall": ("hallrate.sample", "copy the sample hall's configuration files into a folder"),
    "check-config": ("hallrate.check_config", "validate configuration files"),
    "device-config": ("hub.device_config", "set a window device's configuration remotely"),
    "report": ("hub.reports", "month-end tally per person, weekly ranking (CSV or JSON)"),
    "token": ("hub.tokens", "create, list or revoke API tokens"),
}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one subcommand; returns the exit status."""
    parser = argparse.ArgumentParser(prog="hallrate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    words = sys.argv[1:] if argv is None else argv
    chosen = next((w for w in words if w in SUBCOMMANDS), None)
    module = None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(subparser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    assert module is not None
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
