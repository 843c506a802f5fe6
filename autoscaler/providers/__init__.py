"""Metric sources the control loop can ask: one `MetricsProvider` per backend, chosen by name.

Policies name their source (`prometheus`, `graphite`); `build_provider` turns that name plus the
connection settings into a provider. The backends are imported only when asked for, so a
deployment that uses Graphite never loads the Prometheus client library and vice versa.

The few helpers below are shared by the backends: they keep error texts to one short line without
secrets, and they collapse duplicate queries so each distinct query is sent once per tick.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from autoscaler.errors import ConfigurationError
from autoscaler.http import RetryPolicy
from autoscaler.ports import MetricsProvider
from autoscaler.scrub import scrub

PROVIDER_NAMES = ("prometheus", "graphite")

_MAX_DETAIL = 300
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def build_provider(
    name: str,
    *,
    url: str,
    policy: RetryPolicy | None = None,
    **options: Any,
) -> MetricsProvider:
    """A provider for the source `name`, talking to `url`.

    `options` are passed on to the backend's constructor (credentials, TLS, concurrency, window).
    Raises ConfigurationError for an unknown name or an option the backend does not accept.
    """
    policy = policy or RetryPolicy()
    try:
        if name == "prometheus":
            # Imported here so that only the backend in use loads its client library.
            from autoscaler.providers.prometheus import PrometheusProvider  # noqa: PLC0415

            return PrometheusProvider(url=url, policy=policy, **options)
        if name == "graphite":
            from autoscaler.providers.graphite import GraphiteProvider  # noqa: PLC0415

            return GraphiteProvider(url=url, policy=policy, **options)
    except TypeError as exc:
        raise ConfigurationError(f"metric source {name!r}: {exc}") from exc
    raise ConfigurationError(f"unknown metric source {name!r}; expected one of: {', '.join(PROVIDER_NAMES)}")


def one_line(text: str, *, limit: int = _MAX_DETAIL) -> str:
    """`text` as one short line: HTML tags and credentials removed (before it is cut, so no part of a
    secret survives the cut), whitespace folded."""
    text = scrub(_USERINFO.sub("***@", _TAG.sub(" ", text)))
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def distinct(queries: Iterable[str]) -> list[str]:
    """The queries in their first-seen order, each once."""
    return list(dict.fromkeys(queries))
