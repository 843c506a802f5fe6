"""Value types of command-line flags shared by every subcommand, so one flag reads like another.

Every flag that takes a duration uses `duration_arg`: the policy files' syntax (`90s`, `5m`, `2h`,
`7d`, `1h30m`, `500ms`), and, for compatibility with the flags that were documented in seconds, a
bare number of seconds (`90`). Each such flag's help says so.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta

from autoscaler.core.units import format_duration, parse_duration

# What each duration flag's help ends with.
DURATION_HELP = "a duration like 90s, 5m, 2h, 7d or 1h30m; a bare number is seconds"


def duration_arg(*, minimum: timedelta = timedelta(0), exclusive: bool = False) -> Callable[[str], timedelta]:
    """An argparse `type` for a duration of at least `minimum` (above it when `exclusive`)."""

    def parse(text: str) -> timedelta:
        try:
            value = parse_duration(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if value < minimum or (exclusive and value == minimum):
            bound = f"above {format_duration(minimum)}" if exclusive else f"at least {format_duration(minimum)}"
            raise argparse.ArgumentTypeError(f"expected a duration {bound}, got {text!r}")
        return value

    return parse
