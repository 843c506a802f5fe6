"""The `autoscaler` command: arguments in, plain values out, and the only place that exits.

One module per command group; each has an `add_parser(commands)` that adds its subcommand with a
`handler` taking the parsed arguments and returning the exit code. A new command is a new module
here, added to `build_parser` below. Nothing below this package sees argparse: handlers turn the
flags into plain arguments of the service (`autoscaler.service`, `autoscaler.app`), of `explain`
and of `backtest`. `helptext` says what the command line tells about itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from autoscaler.cli import backtest, demo, explain, helptext, run, validate
from autoscaler.sim.cli import add_simulate_parser

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoscaler", description="Autoscaler for Marathon apps.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {helptext.version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    validate.add_parser(commands)
    run.add_parser(commands)
    demo.add_parser(commands)
    explain.add_parser(commands)
    add_simulate_parser(commands)
    backtest.add_parser(commands)
    # A description for every command's --help; `run --help` lists the settings and the exit codes.
    helptext.describe_commands(commands)
    helptext.document_run(commands.choices["run"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
