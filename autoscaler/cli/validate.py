"""`autoscaler validate`: check policy files and campaigns as the service would read them."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from autoscaler.policyfiles import Problem, load_paths

POLICY_DIR_VARIABLE = "AUTOSCALER_POLICY_DIR"


def _paths_to_validate(given: Sequence[str]) -> tuple[list[str], str | None]:
    """The paths to validate and, when none was given, which directory the service would read and why."""
    if given:
        return list(given), None
    configured = os.environ.get(POLICY_DIR_VARIABLE, "").strip()
    if configured:
        return [configured], f"validating {POLICY_DIR_VARIABLE}={configured}, the directory the service reads"
    return ["policies"], f"{POLICY_DIR_VARIABLE} is not set: validating ./policies, the service's default"


def _validate(args: argparse.Namespace) -> int:
    paths, note = _paths_to_validate(args.paths)
    if note is not None:
        print(note)
    result = load_paths(paths, strict=True)
    failed = result.failed_files()
    by_file: dict[str, list[Problem]] = {}
    for problem in result.problems:
        by_file.setdefault(problem.path, []).append(problem)
    # Each file's problems, then its OK line when it has no error; then problems of paths that are
    # no file read here (a missing path).
    files = list(dict.fromkeys(result.files))
    for path in files:
        for problem in by_file.pop(path, []):
            print(problem)
        if path not in failed:
            print(f"OK    {path}")
    for problems in by_file.values():
        for problem in problems:
            print(problem)
    count = len(result.errors)
    print(
        f"{len(files)} files, {len(result.policies)} policies, {len(result.campaigns)} campaigns, "
        f"{count} error{'s' if count != 1 else ''}"
    )
    return 1 if result.errors or not files else 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser("validate", help="check policy files and campaigns")
    validate.add_argument(
        "paths",
        nargs="*",
        default=[],
        help=f"files or directories (default: {POLICY_DIR_VARIABLE}, the directory the service reads; "
        "./policies when it is not set)",
    )
    validate.set_defaults(handler=_validate)
