"""The README's and docs' outputs said to come from the engine are what the engine gives.

The worked example of "How a decision is made" is `Decision.explain()` of the README's own example
policy in the situation the text describes; the forecast line of docs/prediction.md is what the
forecast computes from the samples that page lists. Both are recomputed here, so an engine change that
alters them fails until the documentation is regenerated.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from autoscaler.core.decide import History, decide
from autoscaler.core.forecast import LoadHistory
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy
from autoscaler.core.selfcheck import checked
from autoscaler.policyfiles import SafeLoader

REPO = Path(__file__).resolve().parents[2]
# Outside every window of the example policy (its evening push is 20:00 in Shanghai, 12:00 UTC).
NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


def fenced_after(text: str, marker: str, *, lang: str = "") -> str:
    """The first fenced block (of `lang`) after `marker`."""
    rest = text.split(marker, 1)[1]
    match = re.search(rf"^```{lang}\n(.*?)^```$", rest, flags=re.MULTILINE | re.DOTALL)
    assert match is not None, f"no ```{lang} block after {marker!r}"
    return match.group(1)


def test_the_readme_worked_example_is_the_engines_explanation() -> None:
    readme = (REPO / "README.md").read_text()
    policy_yaml = fenced_after(readme, "## Policies", lang="yaml")
    policy = Policy.model_validate(yaml.load(policy_yaml, Loader=SafeLoader))
    assert policy.app == "/shop/api"
    shown = fenced_after(readme, "**Worked example.**")
    # "runs 4 healthy instances, was last scaled 2 minutes ago; CPU is at 0.9 of a core share, the order
    # backlog at 6,000"
    prose = readme.split("**Worked example.**", 1)[1].split("```", 1)[0]
    assert "4 healthy instances" in prose and "2 minutes ago" in prose and "0.9" in prose and "6,000" in prose
    state = AppState(
        "/shop/api",
        4,
        tasks_running=4,
        tasks_healthy=4,
        has_health_checks=True,
        last_scaled_at=NOW - timedelta(minutes=2),
    )
    observations = {"cpu": Observation(0.9, NOW), "orders_backlog": Observation(6000, NOW)}

    decision = decide(policy, state, observations, History(observing_since=NOW - timedelta(hours=1)), NOW)

    assert shown == decision.explain() + "\n"


def test_the_forecast_line_of_the_prediction_page_is_computed_from_its_samples() -> None:
    page = (REPO / "docs" / "prediction.md").read_text()
    shown = fenced_after(page, "**Reading the forecast.**")
    forecast_line = next(line for line in shown.splitlines() if line.startswith("  forecast "))
    samples_line = next(line for line in shown.splitlines() if line.startswith("  samples, newest period first: "))
    samples = [float(value) for value in samples_line.split(": ", 1)[1].split(", ")]
    target = float(re.search(r" / (\d+(?:\.\d+)?) = ", forecast_line).group(1))  # type: ignore[union-attr]
    history = LoadHistory(lookback=timedelta(days=7), bucket=timedelta(minutes=5))
    for days_back, load in enumerate(samples, start=1):
        history.add(NOW - timedelta(days=days_back), load)

    windows = int(re.search(r" of (\d+) checked windows", forecast_line).group(1))  # type: ignore[union-attr]
    unchecked = history.forecast(metric="depth", target=target, now=NOW, horizon=timedelta(seconds=60))
    assert unchecked is not None
    forecast = checked(unchecked, factor=1.0, windows=windows)  # the days agree: the check leaves it whole

    assert list(forecast.samples) == samples
    assert forecast_line == f"  {forecast.describe()}"
    bullet = page.split("- *q0.9 = ", 1)[1].split("*: the forecast load", 1)[0]
    assert bullet == f"{forecast.base:.2f} + {forecast.margin * 100:g}% = {forecast.load:.2f}"
    assert f"*/ {target:g} = {forecast.load / target:.2f}, proposes {forecast.proposal}*" in page
