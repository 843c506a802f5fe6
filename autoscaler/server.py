"""The operator-facing status server, as the service and the demo import it.

The server lives in `autoscaler.web` (aiohttp in its own thread, views built once per tick, the
dashboard as package files); this module names what its users need.
"""

from __future__ import annotations

from autoscaler.web.server import DEFAULT_HOST, DEFAULT_PORT, ServerLimits, StatusServer
from autoscaler.web.values import decision_json, forecast_json, outcome_json, window_json
from autoscaler.web.views import app_json, startup_json

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ServerLimits",
    "StatusServer",
    "app_json",
    "decision_json",
    "forecast_json",
    "outcome_json",
    "startup_json",
    "window_json",
]
