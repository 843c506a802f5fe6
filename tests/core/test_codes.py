"""The engine's codes: one enum each, valued by the strings JSON and logs carry, each described once."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from autoscaler.core.codes import CODES, PENDING, PROBLEM_CODES, Cause, Hold, Outcome, Rule, describe, kind_of
from autoscaler.core.decide import decide
from tests.core.test_properties import FAST, NOW, histories, observations, policies, states


def test_every_code_is_described_once_with_its_kind() -> None:
    assert set(CODES) == set(Outcome)
    for code in Outcome:
        assert code.description == CODES[code].description
        assert code.description.strip()
        assert code.kind in ("action", "hold", "problem")
    for cause in Cause:
        assert cause.description.strip()
    for rule in Rule:
        assert rule.description.strip()


def test_holds_are_outcomes_and_carry_their_descriptions() -> None:
    for hold in Hold:
        outcome = Outcome(hold.value)
        assert hold == outcome
        assert hold.description == outcome.description
        assert outcome.kind in ("hold", "problem")  # missing_metrics is a hold worth a look


def test_codes_are_the_plain_strings_in_json_and_text() -> None:
    for code in (Outcome.SCALED_UP, Hold.COOLDOWN, Cause.SCHEDULE, Rule.MAX_STEP):
        assert json.loads(json.dumps({code: code})) == {code.value: code.value}
        assert f"{code}" == str(code) == code.value
    assert Outcome.COOLDOWN == Hold.COOLDOWN == "cooldown"
    assert {"cooldown": 1}[Hold.COOLDOWN] == 1
    assert "missing_metrics" in PROBLEM_CODES and Hold.MISSING_METRICS in PROBLEM_CODES


def test_kind_of_tolerates_codes_it_does_not_know() -> None:
    assert kind_of(None) == "pending"
    assert kind_of("a_code_from_a_newer_service") == "unknown"
    assert kind_of("write_rejected") == "problem"
    assert kind_of(Outcome.DRY_RUN) == "action"


@FAST
@given(data=st.data())
def test_decide_speaks_only_the_vocabulary(data: st.DataObject) -> None:
    policy = data.draw(policies())
    decision = decide(policy, data.draw(states()), data.draw(observations(policy)), data.draw(histories()), NOW)
    if decision.scaled:
        assert decision.code in (Outcome.SCALED_UP, Outcome.SCALED_DOWN)
        assert decision.cause in set(Cause) - {Cause.NONE}
    else:
        assert decision.code in set(Hold)
        assert decision.cause == Cause.NONE
    assert all(clamp.rule in set(Rule) for clamp in decision.clamps)


def test_describe_gives_each_codes_words_and_what_no_code_yet_means() -> None:
    for code in Outcome:
        assert describe(code) == CODES[code].description == code.description
    assert describe(None) and kind_of(None) == PENDING
    assert describe("a_newer_code") is None and kind_of("a_newer_code") == "unknown"
    # only a change Marathon accepted has a direction: the dashboard draws it as up or down
    assert {code: CODES[code].direction for code in Outcome if CODES[code].direction} == {
        Outcome.SCALED_UP: "up",
        Outcome.SCALED_DOWN: "down",
    }
