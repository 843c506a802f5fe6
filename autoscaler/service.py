"""The service as `autoscaler run` runs it: the real collaborators, the signals, and its lifetime.

Builds the Marathon client and the metric providers from the settings, hands them with the wall
clock to the composition root (`autoscaler.app.build_service`), and runs the result until SIGTERM or
SIGINT stops it (SIGHUP reloads the policies), or for a single tick (`once`). The command line turns
its flags into the plain arguments of `run_service`; nothing here sees them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from autoscaler.app import Service, build_service
from autoscaler.loop import settle_memory
from autoscaler.pauses.build import open_store
from autoscaler.pauses.control import PauseControl
from autoscaler.reports import TickReport
from autoscaler.settings import Settings
from autoscaler.wiring import build_providers, load_policies, marathon_client, retry_policy, utc_now

EXIT_CONFIG = 2
EXIT_TICK_FAILED = 1

# After a dry-run tick of a fresh process: what it cannot show (the running service can: --url).
OFFLINE_PREVIEW_NOTE = (
    "Offline preview: this process has only just started, so it has no stabilisation history (no scale-down "
    "can show: one is held until a full window has been observed), no ready counts of the metric window and "
    "no learned start-up time. --url or AUTOSCALER_STATUS_URL previews the running service instead."
)


async def run_service(
    settings: Settings,
    logger: logging.Logger,
    *,
    dry_run: bool = False,
    once: bool = False,
    on_stop: Callable[[], None] | None = None,
) -> int:
    """Run until SIGTERM or SIGINT (or one tick with `once`). `on_stop` is called when the signal
    arrives, before the shutdown starts: the command line bounds the shutdown with it."""
    loaded = load_policies(settings, logger)
    interval = settings.interval.total_seconds()
    retry = retry_policy(settings, interval)
    providers = build_providers(settings, policies=loaded.policies, retry=retry)
    target = marathon_client(settings, retry)
    store = await asyncio.to_thread(open_store, settings, logger)
    pauses = PauseControl(store=store, clock=utc_now, logger=logger)
    try:
        service = build_service(
            settings,
            policies=loaded,
            target=target,
            providers=providers,
            clock=utc_now,
            logger=logger,
            dry_run=dry_run,
            once=once,
            pauses=pauses,
        )
        election = service.election
        if election is not None:
            election.start()
        try:
            settle_memory(len(loaded.policies))
            logger.info(
                "managing %d apps from %s every %gs%s%s",
                len(loaded.policies),
                settings.policy_dir,
                interval,
                " (dry run: no writes)" if dry_run else "",
                " (leader election on ZooKeeper)" if election is not None else "",
                extra={"fields": {"event": "start", "apps": sorted(loaded.policies)}},
            )
            if once:
                return await _one_tick(service, dry_run=dry_run)
            return await _serve(service, logger, on_stop=on_stop)
        finally:
            if election is not None:
                await asyncio.to_thread(election.stop)
    finally:
        await asyncio.to_thread(store.close)
        await target.aclose()
        for provider in providers.values():
            await provider.aclose()


async def _one_tick(service: Service, *, dry_run: bool) -> int:
    election = service.election
    if election is not None:  # give the election one session to decide before the single tick
        running = asyncio.get_running_loop()
        deadline = running.time() + service.settings.zk_session_timeout.total_seconds()
        # the election runs in kazoo threads and offers no awaitable: poll its cheap flag
        while not election.is_leader() and running.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    report = await service.loop.tick()
    print_report(report)
    if dry_run and report.error is None:
        print(OFFLINE_PREVIEW_NOTE)
    if report.auth_error:
        return EXIT_CONFIG
    return 0 if report.reached_marathon else EXIT_TICK_FAILED


async def _serve(service: Service, logger: logging.Logger, *, on_stop: Callable[[], None] | None = None) -> int:
    """The long-running service: SIGTERM and SIGINT stop it, SIGHUP reloads the policies."""
    stop = asyncio.Event()
    running = asyncio.get_running_loop()

    def stopping() -> None:
        stop.set()
        if on_stop is not None:
            on_stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(signum, stopping)
    if service.reloader is not None:
        running.add_signal_handler(signal.SIGHUP, service.reloader.trigger)
    try:
        await service.run(stop=stop)
    finally:
        running.remove_signal_handler(signal.SIGHUP)
    logger.info("stopped", extra={"fields": {"event": "stop"}})
    return 0


def print_report(report: TickReport) -> None:
    """One line per app of a single tick, for `run --once`."""
    if report.error is not None:
        print(f"tick failed: {report.error}")
        return
    for app_id in sorted(report.outcomes):
        outcome = report.outcomes[app_id]
        line = outcome.decision.summary() if outcome.decision is not None else f"{app_id}: {outcome.code}"
        if outcome.decision is not None and outcome.code != outcome.decision.code:
            line += f" -> {outcome.code}: {outcome.detail}"
        elif outcome.decision is None:
            line += f" ({outcome.detail})"
        print(line)
