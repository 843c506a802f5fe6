"""The values made without their `__init__` (core.frozen) are the values `__init__` would make.

`assemble` and `replaced` fill an instance's `__dict__`: that is only the same as the dataclass's
own `__init__` for plain frozen dataclasses, given every field. Each class they are used on is
checked for that shape, and each place that uses them is checked to give every field.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.core.decide import Decision, History
from autoscaler.core.frozen import assemble, replaced
from autoscaler.core.model import AppState, Observation, Sample
from autoscaler.core.rules import observe_series
from autoscaler.providers.prometheus import _instant_samples

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
USED_ON = [Sample, Observation, History, Decision, AppState]


def field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("cls", USED_ON, ids=lambda cls: cls.__name__)
def test_every_class_made_without_init_is_a_plain_frozen_dataclass(cls: type) -> None:
    params = getattr(cls, "__dataclass_params__")  # noqa: B009 - the dataclass's own record
    assert params.frozen
    assert "__slots__" not in cls.__dict__
    assert not hasattr(cls, "__post_init__")
    assert all(f.init for f in dataclasses.fields(cls))


def test_assemble_and_replaced_make_what_the_dataclass_makes() -> None:
    fields = {"labels": {"app": "/a"}, "value": 0.5, "timestamp": NOW}
    made = assemble(Sample, fields)
    assert made == Sample(**fields) and type(made) is Sample
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.value = 1.0  # type: ignore[misc]
    decision = Decision(app_id="/a", at=NOW, current=2, desired=2, code="within_tolerance", notes=("n",))
    later = replaced(decision, at=NOW + timedelta(seconds=15))
    assert later == dataclasses.replace(decision, at=NOW + timedelta(seconds=15))
    assert decision.at == NOW  # the original is untouched


def test_the_values_made_without_init_carry_every_field() -> None:
    samples, problems = _instant_samples([{"metric": {"app": "/a"}, "value": [NOW.timestamp(), "0.5"]}])
    assert problems == []
    observation = observe_series(samples[0], query="q")
    decision = Decision(app_id="/a", at=NOW, current=2, desired=2, code="within_tolerance", ready=2, recommendation=2)
    history = (
        History()
        .record(decision, keep=timedelta(minutes=5))
        .record(replaced(decision, at=NOW + timedelta(seconds=15)), keep=timedelta(minutes=5))
    )
    for value in (samples[0], observation, history):
        assert set(vars(value)) == field_names(type(value))
    assert observation == Observation(value=0.5, timestamp=NOW, reason=None, series={"app": "/a"})
