"""Parsing of the small value languages of the policy files: durations and step sizes.

Durations are written like `45s`, `5m`, `1h30m`, `2d`; step sizes are a count (`10`) or a percentage
of the current instance count (`20%`); fractions are a percentage (`10%`) or a number (`0.1`). Each
parses to a value the engine can compute with and rejects anything else with a message that says what
was expected. In a policy a duration must carry its unit (`lead: 20` could mean seconds or minutes);
settings and command-line flags, documented in seconds, still take a bare number of seconds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(d|h|ms|m|s)")
_BARE_NUMBER = re.compile(r"\d+(\.\d+)?")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}

# Floating-point slack for ceil(): 4.0000000001 instances is 4, not 5.
EPSILON = 1e-9


# The accepted forms, as every duration error shows them.
DURATION_FORMS = "90s, 5m, 2h, 7d, or combined like 1h30m (units d, h, m, s, ms)"


def parse_duration(value: object, *, bare_seconds: bool = True) -> timedelta:
    """`1h30m` -> 5400 s. Accepts a timedelta, unit text and, when `bare_seconds`, a number of seconds.

    With `bare_seconds=False` (policy files) a bare number, written or quoted, is an error that says
    which forms are accepted.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"expected a duration like {DURATION_FORMS}, got a boolean")
    elif isinstance(value, int | float) or (isinstance(value, str) and _BARE_NUMBER.fullmatch(value.strip())):
        if not bare_seconds:
            raise ValueError(f"a duration needs a unit: write {DURATION_FORMS}; got the bare number {value!r}")
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            raise ValueError(f"expected a duration like {DURATION_FORMS}, got {value!r}")
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    else:
        raise ValueError(f"expected a duration like {DURATION_FORMS}, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be zero or positive, got {value!r}")
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """5400 s -> `1h30m`; the inverse of parse_duration for whole seconds."""
    total = round(duration.total_seconds())
    if total == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


@dataclass(frozen=True)
class Step:
    """One step limit: an absolute count, or a percentage of the current instance count."""

    count: int | None = None
    percent: float | None = None

    def size(self, current: int) -> int:
        """How many instances this limit allows in one action; never less than one."""
        if self.count is not None:
            return max(1, self.count)
        assert self.percent is not None
        return max(1, math.ceil(current * self.percent / 100.0 - EPSILON))

    def __str__(self) -> str:
        if self.count is not None:
            return str(self.count)
        assert self.percent is not None
        return f"{self.percent:g}%"


def parse_step(value: object) -> Step:
    """`10` -> 10 instances; `20%` -> 20 % of the current count."""
    if isinstance(value, Step):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a count like 4 or a percentage like 50%, got a boolean")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"a step must be at least 1 instance, got {value}")
        return Step(count=value)
    if isinstance(value, str):
        text = value.strip()
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", text)
        if match:
            percent = float(match.group(1))
            if percent <= 0:
                raise ValueError(f"a percentage step must be above 0%, got {value!r}")
            return Step(percent=percent)
        if text.isdigit():
            return parse_step(int(text))
    raise ValueError(f"expected a count like 4 or a percentage like 50%, got {value!r}")


# The accepted forms of a fraction, as every fraction error shows them.
FRACTION_FORMS = "a percentage like 10% or a number like 0.1"
_PERCENT = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*%")


def parse_fraction(value: object) -> float:
    """`10%` -> 0.1; a number (or numeric text) is the fraction itself: `0.1` -> 0.1."""
    if isinstance(value, bool):
        raise ValueError(f"expected {FRACTION_FORMS}, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        match = _PERCENT.fullmatch(text)
        try:
            number = float(match.group(1)) / 100.0 if match else float(text)
        except ValueError:
            raise ValueError(f"expected {FRACTION_FORMS}, got {value!r}") from None
    else:
        raise ValueError(f"expected {FRACTION_FORMS}, got {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"expected {FRACTION_FORMS}, got {value!r}")
    return number
