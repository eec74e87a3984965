"""`scaler` command line: the command group and the one place user errors are reported.

Errors a user can cause (bad option, unreadable file, unreachable cluster) are one line on stderr
and exit code 2, whichever command raised them (``scaler.errors.UserError``, or click's own usage
errors); a traceback means a bug in scaler. Subcommands are imported only when used, so
``scaler --help`` loads click and nothing heavy.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from scaler import __version__
from scaler.errors import USER_ERROR_EXIT

# Subcommands: name -> (module, attribute, one-line help shown by `scaler --help`).
COMMANDS = {
    "run": ("scaler.cli_run", "run_cmd", "Scale the workload step by step and record what happens."),
    "nodes": ("scaler.cli_nodes", "nodes", "Commands about the cluster's nodes."),
    "sim": ("scaler.cli_sim", "sim", "The simulated cluster (a model, not a real cluster)."),
}


class ScalerGroup(click.Group):
    """Loads each subcommand when it is used, and prints every user error as one line
    (``scaler: error: ...``), exit 2, no usage dump."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attr, _ = COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing comes from the table, so `scaler --help` imports no subcommand.
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        name = prog_name or self.name or "scaler"
        try:
            rv = super().main(args=args, prog_name=name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except click.exceptions.Exit as e:
            rv = e.exit_code
        except (click.exceptions.Abort, KeyboardInterrupt):
            click.echo(f"{name}: interrupted", err=True)
            rv = 130
        except click.ClickException as e:  # UserError, and click's own usage errors
            msg = e.format_message()
            if isinstance(e, click.UsageError) and e.ctx is not None and not isinstance(
                e, click.BadParameter
            ):
                msg = f"{msg} (see '{e.ctx.command_path} --help')"
            click.echo(f"{name}: error: {msg}", err=True)
            rv = USER_ERROR_EXIT if isinstance(e, click.UsageError) else e.exit_code
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(name="scaler", cls=ScalerGroup, context_settings={"auto_envvar_prefix": "SCALER",
                                                  "help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scaler")
def main() -> None:
    """How many pods fit on a cluster under runc, under Kata Containers, and what each costs.

    `scaler run` scales a Deployment of a calibrated workload step by step, samples every node's
    and pod's memory, and writes run.csv, run.nodes.csv, run.pods.csv and run.meta.json. With no
    cluster named it runs
    on an embedded simulated cluster, in virtual time. Every option can also be set from the
    environment as SCALER_<COMMAND>_<OPTION>, e.g. SCALER_RUN_RUNTIME=kata.
    """


if __name__ == "__main__":
    main()
