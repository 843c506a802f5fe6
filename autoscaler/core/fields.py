"""The field types of the policy language, shared by its models (core.policy, core.windows).

What a person writes is what it means: a duration carries a unit (`20` is refused, `20m` is not),
every fraction takes `10%` as well as `0.1`, `lead` and `horizon` take `auto`, and a check that
involves several fields reports its error at the field it is about (`field_errors`), so a file loader
can point at that line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from autoscaler.core.units import FRACTION_FORMS, Step, format_duration, parse_duration, parse_fraction, parse_step

__all__ = ["AS_PERCENT", "Duration", "Horizon", "Lead", "MinStep", "Model", "StepLimits", "field_errors", "fraction"]


def _duration(value: object, info: ValidationInfo) -> timedelta:
    """A duration with its unit; a bare number (`lead: 20`: seconds or minutes?) names the field."""
    try:
        return parse_duration(value, bare_seconds=False)
    except ValueError as exc:
        raise ValueError(f"{info.field_name}: {exc}") from None


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
]


def _parse_steps(value: object) -> tuple[Step, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValueError("max_step needs at least one count or percentage")
    return tuple(parse_step(item) for item in items)


StepLimits = Annotated[
    tuple[Step, ...],
    BeforeValidator(_parse_steps),
    PlainSerializer(lambda steps: [str(step) for step in steps], return_type=list[str]),
]

MinStep = Annotated[Step, BeforeValidator(parse_step), PlainSerializer(str, return_type=str)]


def _parse_lead(value: object, info: ValidationInfo) -> timedelta | None:
    """`auto` (None: the app's learned start-up time plus one tick) or a duration."""
    if value is None or (isinstance(value, str) and value.strip() == "auto"):
        return None
    try:
        return parse_duration(value, bare_seconds=False)
    except ValueError as exc:
        raise ValueError(f"{info.field_name} (a duration, or auto): {exc}") from None


# A lead time: a duration, or `auto` (None here): the start-up time learned from Marathon plus one tick.
Lead = Annotated[
    timedelta | None,
    BeforeValidator(_parse_lead),
    PlainSerializer(lambda lead: "auto" if lead is None else format_duration(lead), return_type=str),
]
# `horizon` of a forecast: a duration or `auto` (None here), like Lead.
Horizon = Lead


def _percent(value: float) -> str:
    return f"{value * 100:g}%"


def fraction(*, low: float, high: float | None = None, low_open: bool = False, high_open: bool = False) -> Any:
    """A fraction field written `10%` or `0.1`, within [low, high] (an open end excludes its bound).

    Parsing and range share one message that names the field, the range and the accepted forms.
    """
    shown_low = "0" if low == 0 else _percent(low)
    above = f"above {shown_low}" if low_open else f"at least {shown_low}"
    below = "" if high is None else f" and {'below' if high_open else 'at most'} {_percent(high)}"
    expected = f"{above}{below}, written as {FRACTION_FORMS}"

    def parse(value: object, info: ValidationInfo) -> float:
        try:
            number = parse_fraction(value)
        except ValueError:
            raise ValueError(f"{info.field_name} must be {expected}; got {value!r}") from None
        too_low = number <= low if low_open else number < low
        too_high = high is not None and (number >= high if high_open else number > high)
        if too_low or too_high:
            raise ValueError(f"{info.field_name} must be {expected}; got {value!r}")
        return number

    return BeforeValidator(parse)


# `margin` and `max_spread` read as percentages; they are shown that way.
AS_PERCENT = PlainSerializer(_percent, return_type=str)


def field_errors(title: str, errors: Sequence[tuple[tuple[str | int, ...], str, object]]) -> ValidationError:
    """A ValidationError whose errors sit at the fields they are about (not at the model's top), so
    that a file loader reports the line of that field."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError("value_error", "{message}", {"message": message}), loc=loc, input=value
        )
        for loc, message, value in errors
    ]
    return ValidationError.from_exception_data(title, details)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
