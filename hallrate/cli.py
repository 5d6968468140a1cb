"""hallrate: satisfaction ratings for government service halls.

Each subcommand is a click command in the module that owns it, imported only
when that subcommand runs (or its help is asked for), so a window device
running ``hallrate agent`` loads no hub code. A bad configuration, whichever
command reads it, is printed the same way and ends with status 2.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from device_agent.errors import ConfigError
from device_agent.runner import report_config_error

# name: (module, the command's attribute in it, one line of help for ``hallrate --help``)
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
    "user": ("hub.console.users_cli", "add, change, disable or list the console's users"),
}
# Every owning module names its click command so.
COMMAND = "command"


class LazyGroup(click.Group):
    """A group whose subcommands are imported from :data:`SUBCOMMANDS` only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every subcommand's name, without importing any."""
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the one subcommand asked for."""
        if cmd_name not in SUBCOMMANDS:
            return None
        module = importlib.import_module(SUBCOMMANDS[cmd_name][0])
        command = getattr(module, COMMAND)
        assert isinstance(command, click.Command), module
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of subcommands in ``--help``, from the table (importing none of them)."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, text) in SUBCOMMANDS.items()])


@click.group(cls=LazyGroup, help=__doc__.splitlines()[0], context_settings={"show_default": True})
@click.option(
    "--log-level",
    default="INFO",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="the least severe log messages written to standard error",
)
def cli(log_level: str) -> None:
    """Configure logging for whichever subcommand runs."""
    logging.basicConfig(
        level=log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one subcommand; returns the exit status.

    2 for a usage error or a bad configuration, as every command documents.
    """
    try:
        status = cli.main(args=argv, prog_name="hallrate", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    except ConfigError as exc:
        return report_config_error(exc)
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
