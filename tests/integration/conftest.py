"""Fixtures that run real Prometheus and Graphite servers for the integration tests.

Each server is started once per test module (start-up is the slow part) in a temporary directory
on free 127.0.0.1 ports, and stopped after the module's last test. A missing server binary skips
the tests on a developer machine but fails them in CI (CI=true), where a skip would hide that
nothing was tested.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import servers

DEFAULT_METRICS = (
    "# TYPE app_cpu_usage gauge\n"
    'app_cpu_usage{app="/shop/api"} 0.8\n'
    'app_cpu_usage{app="/shop/web"} 0.3\n'
    "# TYPE queue_depth gauge\n"
    'queue_depth{queue="orders"} 123\n'
)


def require_binary(name: str) -> None:
    """Skip the test when `name` cannot be run, or fail it when running in CI."""
    reason = servers.missing_binary(name)
    if reason is None:
        return
    message = f"{reason}; install the Debian packages prometheus, graphite-carbon, graphite-web"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (a skip counts as a failure in CI)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def exporter() -> Iterator[servers.MetricsExporter]:
    """A /metrics endpoint Prometheus scrapes; assign `.text` to change what it serves."""
    metrics = servers.MetricsExporter(DEFAULT_METRICS)
    yield metrics
    metrics.stop()


@pytest.fixture(scope="module")
def prometheus_backfill() -> str | None:
    """OpenMetrics history imported before Prometheus starts; override in a test module."""
    return None


@pytest.fixture(scope="module")
def prometheus_server(
    tmp_path_factory: pytest.TempPathFactory,
    exporter: servers.MetricsExporter,
    prometheus_backfill: str | None,
) -> Iterator[servers.RunningServer]:
    """A Prometheus scraping `exporter` every second. Ready to query, but the first scrape comes
    about 6 s after start: use servers.wait_for_targets_up before relying on scraped data."""
    require_binary(servers.PROMETHEUS)
    if prometheus_backfill is not None:
        require_binary(servers.PROMTOOL)
    server = servers.start_prometheus(
        tmp_path_factory.mktemp("prometheus"),
        scrape_targets=[exporter.target],
        backfill_openmetrics=prometheus_backfill,
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def graphite_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[servers.RunningGraphite]:
    """carbon-cache plus graphite-web; send points with `.send_points`, poll with `.wait_for`."""
    for binary in (servers.DEBIAN_PYTHON, servers.CARBON_CACHE, servers.GRAPHITE_MANAGE):
        require_binary(binary)
    server = servers.start_graphite(tmp_path_factory.mktemp("graphite"))
    yield server
    server.stop()
