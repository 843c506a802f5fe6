"""Durations and step sizes: the two small value languages of the policy files."""

from __future__ import annotations

from datetime import timedelta

import pytest

from autoscaler.core.units import Step, format_duration, parse_duration, parse_fraction, parse_step


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("5m", 5 * 60),
        ("1h", 3600),
        ("1h30m", 3600 + 30 * 60),  # 5400
        ("2d", 2 * 86400),
        ("1d2h3m4s", 86400 + 2 * 3600 + 3 * 60 + 4),  # 93784
        ("500ms", 0.5),
        ("1.5m", 90),
        ("90", 90),  # bare number of seconds
        ("0", 0),
        (" 1h 30m ", 5400),  # spaces are ignored
        (30, 30),
        (2.5, 2.5),
        (timedelta(minutes=2), 120),
    ],
)
def test_parse_duration_accepts(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    ["", "abc", "5x", "m5", "5 minutes", "-5s", "1h-30m", "1h30", "s", "5mm", "1e3s", True, None, [], -1, -0.5],
)
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_parse_duration_rejects_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (300, "5m"), (5400, "1h30m"), (2 * 86400 + 1, "2d1s")],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10, Step(count=10)),
        ("10", Step(count=10)),
        ("20%", Step(percent=20.0)),
        (" 12.5 % ", Step(percent=12.5)),
        (1, Step(count=1)),
    ],
)
def test_parse_step_accepts(value: object, expected: Step) -> None:
    assert parse_step(value) == expected


@pytest.mark.parametrize("value", [0, -1, "0", "0%", "-5%", "abc", "5 instances", "%", True, None, 2.5])
def test_parse_step_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_step(value)


@pytest.mark.parametrize(
    ("step", "current", "size"),
    [
        (Step(count=10), 3, 10),
        (Step(count=10), 0, 10),
        (Step(percent=20), 10, 2),  # 10 x 20% = 2
        (Step(percent=20), 11, 3),  # 11 x 20% = 2.2, rounds up to 3
        (Step(percent=20), 3, 1),  # 3 x 20% = 0.6, rounds up to 1
        (Step(percent=20), 0, 1),  # 0 x 20% = 0, at least 1
        (Step(percent=100), 7, 7),  # 7 x 100% = 7
        (Step(percent=50), 5, 3),  # 5 x 50% = 2.5 -> 3
        (Step(percent=10), 1, 1),  # 0.1 -> 1
        # 3 x 33.3333333334% = 1.00000000002 in floating point: that is one instance, not two
        (Step(percent=33.3333333334), 3, 1),
        # 7 x 30% = 2.1 (floating point 2.0999999999999996): rounds up to 3
        (Step(percent=30), 7, 3),
    ],
)
def test_step_size(step: Step, current: int, size: int) -> None:
    assert step.size(current) == size


def test_step_rounding_does_not_add_an_instance_for_float_noise() -> None:
    # 40 x 10.0000000000025% = 4.000000000001: four instances, not five
    assert Step(percent=10.0000000000025).size(40) == 4


def test_step_str_round_trips() -> None:
    assert str(Step(count=4)) == "4"
    assert str(Step(percent=20.0)) == "20%"
    assert parse_step(str(Step(percent=12.5))) == Step(percent=12.5)


@pytest.mark.parametrize("bare", [90, 2.5, 0, "90", " 90 ", "1.5"])
def test_a_duration_without_bare_seconds_needs_a_unit(bare: object) -> None:
    with pytest.raises(ValueError, match="needs a unit") as info:
        parse_duration(bare, bare_seconds=False)
    for form in ("90s", "5m", "2h", "7d", "1h30m"):
        assert form in str(info.value)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("1h30m", 5400), (timedelta(minutes=2), 120)])
def test_a_duration_with_a_unit_needs_no_bare_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text, bare_seconds=False) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("value", "fraction"),
    [("10%", 0.1), ("12.5 %", 0.125), ("0%", 0.0), ("250%", 2.5), (0.1, 0.1), (1, 1.0), ("0.25", 0.25), ("-5%", -0.05)],
)
def test_parse_fraction_accepts_percentages_and_numbers(value: object, fraction: float) -> None:
    assert parse_fraction(value) == pytest.approx(fraction)


@pytest.mark.parametrize("value", ["", "%", "ten", "10 percent", "10%%", True, None, [0.1], "nan", float("inf")])
def test_parse_fraction_rejects_the_rest(value: object) -> None:
    with pytest.raises(ValueError, match=r"a percentage like 10% or a number like 0\.1"):
        parse_fraction(value)
