"""The policy the loop's tests share: one app scaled on its CPU, read from a grouped query.

`GROUPED` is that query (one series per app, picked by the `marathon_app` label), so one answer of
a `FakeProvider` serves every app of a test.
"""

from __future__ import annotations

from autoscaler.core.policy import Policy

__all__ = ["GROUPED", "cpu_policy"]

GROUPED = "avg by (marathon_app) (cpu)"


def cpu_policy(app: str, **overrides: object) -> Policy:
    data: dict[str, object] = {
        "app": app,
        "min_instances": 1,
        "max_instances": 20,
        "metrics": [
            {
                "name": "cpu",
                "source": "prometheus",
                "query": GROUPED,
                "series": {"marathon_app": "${app}"},
                "target_average": 0.5,
            }
        ],
    }
    data.update(overrides)
    return Policy.model_validate(data)
