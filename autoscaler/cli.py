"""The `autoscaler` command: the composition root.

It parses arguments, reads settings, builds the collaborators and hands them to the loop. It is the
only module that may exit the process; everything below it raises the project's own errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from autoscaler.policyfiles import load_paths


def _validate(args: argparse.Namespace) -> int:
    result = load_paths(args.paths)
    failed = result.failed_files()
    for path in result.files:
        if path not in failed:
            print(f"OK    {path}")
    for problem in result.problems:
        print(problem)
    count = len(result.errors)
    print(
        f"{len(result.files)} files, {len(result.policies)} policies, {len(result.campaigns)} campaigns, "
        f"{count} error{'s' if count != 1 else ''}"
    )
    return 1 if result.errors or not result.files else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoscaler", description="Autoscaler for Marathon apps.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check policy files and campaigns")
    validate.add_argument("paths", nargs="*", default=["policies"], help="files or directories (default: policies)")
    validate.set_defaults(handler=_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
