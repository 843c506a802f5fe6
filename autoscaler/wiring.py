"""The service's collaborators built from the settings: the clients of the outside world and the sinks.

The composition root (`autoscaler.app.build_service`) wires the service from these; the commands that
need one collaborator without the service (`explain` and `backtest` read Marathon and the metric
sources, `run --once` loads the policies) build it here too, so a setting means the same everywhere:
the retry policy of a tick and of background deliveries, the policies loaded from the policy
directory, the metric providers, the Marathon client, the status server, notifications, Graphite
events and the leader election.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from autoscaler.core.policy import Policy
from autoscaler.errors import ConfigurationError
from autoscaler.http import RetryPolicy
from autoscaler.leader import LeaderElection
from autoscaler.pauses.control import PauseControl
from autoscaler.policyfiles import LoadResult, load_directory
from autoscaler.ports import MetricsProvider
from autoscaler.providers import build_provider
from autoscaler.settings import Settings
from autoscaler.sinks.events import GraphiteEvents, event_tags
from autoscaler.sinks.notify import Notifier, NotifyConfig, parse_targets
from autoscaler.sinks.selfmetrics import SelfMetrics
from autoscaler.sinks.status import ServiceStatus
from autoscaler.targets.marathon import MarathonClient
from autoscaler.web.server import ServerLimits, StatusServer

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def secret_value(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else None


def basic_auth(user: str | None, password: object) -> tuple[str, str] | None:
    """A user and its secret password as HTTP basic auth, when both are set."""
    secret = secret_value(password)
    return (user, secret) if user and secret else None


def retry_policy(settings: Settings, interval: float) -> RetryPolicy:
    """For the requests of a tick: a request and its retries must fit well inside one tick."""
    return _retry(settings, budget=interval * 0.6)


def background_retry(settings: Settings) -> RetryPolicy:
    """Deliveries run beside the loop, not inside a tick: they may take longer than a tick's budget."""
    return _retry(settings, budget=30.0)


def _retry(settings: Settings, *, budget: float) -> RetryPolicy:
    timeout = settings.request_timeout.total_seconds()
    return RetryPolicy(
        attempts=settings.retry_attempts,
        request_timeout=timeout,
        total_timeout=max(timeout, budget),
        max_response_bytes=settings.max_response_bytes,
    )


# Nothing ships in force: the service manages only the apps of the operator's own policies.
_BRING_POLICIES = (
    "the service starts only with your own policies: mount a directory of them there (a volume), fetch "
    "an archive of them (a Mesos fetcher URI), or build an image with them (see deploy/README.md)"
)


def load_policies(settings: Settings, logger: logging.Logger) -> LoadResult:
    """The operator's policies, or a ConfigurationError that says how to provide them."""
    where = settings.policy_dir
    if not where.exists():
        raise ConfigurationError(f"AUTOSCALER_POLICY_DIR {where} does not exist; {_BRING_POLICIES}")
    if not where.is_dir():
        raise ConfigurationError(f"AUTOSCALER_POLICY_DIR {where} is not a directory of policy files")
    result = load_directory(where)
    for problem in result.problems:
        level = logging.ERROR if problem.severity == "error" else logging.WARNING
        logger.log(level, "policy %s", problem, extra={"fields": {"event": "policy_error", "file": problem.path}})
    if not result.files:
        raise ConfigurationError(f"AUTOSCALER_POLICY_DIR {where} holds no policy file (*.yaml); {_BRING_POLICIES}")
    if not result.policies:
        raise ConfigurationError(f"no valid policy in {where}: every policy file has errors (logged above)")
    return result


def build_providers(
    settings: Settings, *, policies: Mapping[str, Policy], retry: RetryPolicy
) -> dict[str, MetricsProvider]:
    """A provider for every source that has a URL (a policy reloaded later may use one the first set
    did not); a source that a loaded policy uses but that has no URL is a configuration error."""
    used = {spec.source for policy in policies.values() for spec in policy.metrics}
    urls = {"prometheus": settings.prometheus_url, "graphite": settings.graphite_url}
    missing = sorted(source for source in used if not urls.get(source))
    if missing:
        names = ", ".join(f"AUTOSCALER_{source.upper()}_URL" for source in missing)
        users = sorted(p.app for p in policies.values() if any(m.source in missing for m in p.metrics))
        raise ConfigurationError(f"{names} must be set: used by the policies of {', '.join(users)}")
    providers: dict[str, MetricsProvider] = {}
    if settings.prometheus_url:
        providers["prometheus"] = build_provider(
            "prometheus",
            url=settings.prometheus_url,
            policy=retry,
            basic_auth=basic_auth(settings.prometheus_user, settings.prometheus_password),
            bearer_token=secret_value(settings.prometheus_token),
            verify=settings.metrics_verify(),
            max_concurrency=settings.concurrency,
        )
    if settings.graphite_url:
        providers["graphite"] = build_provider(
            "graphite",
            url=settings.graphite_url,
            policy=retry,
            basic_auth=basic_auth(settings.graphite_user, settings.graphite_password),
            verify=settings.metrics_verify(),
            max_concurrency=settings.concurrency,
        )
    return providers


def marathon_client(settings: Settings, retry: RetryPolicy) -> MarathonClient:
    if settings.marathon_url is None:  # load_settings(require_marathon=True) guarantees it
        raise ConfigurationError("AUTOSCALER_MARATHON_URL is required")
    return MarathonClient(
        base_url=settings.marathon_url,
        policy=retry,
        username=settings.marathon_user,
        password=secret_value(settings.marathon_password),
        token=secret_value(settings.marathon_token),
        verify=settings.marathon_verify(),
        max_connections=settings.write_concurrency,  # the list is read before the writes, never beside them
    )


def server_limits(settings: Settings) -> ServerLimits:
    return ServerLimits(
        max_connections=settings.server_max_connections,
        max_header_bytes=settings.server_max_header_bytes,
        read_timeout=settings.server_read_timeout.total_seconds(),
        write_timeout=settings.server_write_timeout.total_seconds(),
    )


def status_server(
    settings: Settings,
    *,
    status: ServiceStatus,
    metrics: SelfMetrics,
    clock: Clock,
    pauses: PauseControl | None,
    port: int | None = None,
) -> StatusServer:
    """The status server over `status` and `metrics`, on the settings' host and port (or `port`)."""
    return StatusServer(
        status=status,
        metrics=metrics,
        clock=clock,
        host=settings.host,
        port=settings.port if port is None else port,
        api_token=secret_value(settings.api_token),
        limits=server_limits(settings),
        pauses=pauses,
    )


def build_notifier(settings: Settings, *, clock: Clock, logger: logging.Logger) -> Notifier | None:
    spec = secret_value(settings.notify_urls)
    targets = parse_targets(spec, dingtalk_secret=secret_value(settings.notify_dingtalk_secret)) if spec else ()
    if not targets:
        return None
    config = NotifyConfig(
        targets=targets,
        failure_ticks=settings.notify_failure_ticks,
        scale_actions=settings.notify_scale_actions,
        rate_per_minute=settings.notify_rate,
        queue_size=settings.notify_queue,
        title=settings.notify_title,
    )
    logger.info("notifications to %s", ", ".join(t.label for t in targets), extra={"fields": {"event": "notify"}})
    return Notifier(config, retry=background_retry(settings), clock=clock, logger=logger)


def build_graphite_events(settings: Settings, logger: logging.Logger) -> GraphiteEvents | None:
    if not settings.graphite_events:
        return None
    url = settings.graphite_events_url or settings.graphite_url
    if not url:
        raise ConfigurationError(
            "AUTOSCALER_GRAPHITE_EVENTS needs AUTOSCALER_GRAPHITE_EVENTS_URL or AUTOSCALER_GRAPHITE_URL"
        )
    same_server = settings.graphite_events_url in (None, settings.graphite_url)
    auth = basic_auth(settings.graphite_user, settings.graphite_password) if same_server else None
    return GraphiteEvents(
        url=url,
        retry=background_retry(settings),
        logger=logger,
        tags=event_tags(settings.graphite_events_tags),
        auth=auth,
        verify=settings.metrics_verify(),
    )


def build_election(settings: Settings, *, dry_run: bool, logger: logging.Logger) -> LeaderElection | None:
    """The leader election when ZooKeeper is configured (a dry run never writes, so it never joins)."""
    if not settings.zk_hosts or dry_run:
        return None
    return LeaderElection(
        settings.zk_hosts,
        settings.zk_path,
        identifier=os.environ.get("MESOS_TASK_ID") or f"{socket.gethostname()}:{os.getpid()}",
        logger=logger,
        session_timeout=settings.zk_session_timeout.total_seconds(),
    )
