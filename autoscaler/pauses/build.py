"""Which pause store a service uses, from its settings: ZooKeeper, else a state file, else memory.

Chosen once at start. A store that cannot be used at start (ZooKeeper not answering, a state
directory that is missing or not writable, a state file that is not a pause document) stops the
start with a ConfigurationError that names the setting: starting without the pauses an operator
made would silently lift them. ZooKeeper is the exception, as for the election: it may be down at
start, and until the pauses have been read once every app is held (`PauseControl.index`).
"""

from __future__ import annotations

import logging

from autoscaler.errors import ConfigurationError
from autoscaler.pauses.codec import PauseStoreError
from autoscaler.pauses.statefile import FileStore
from autoscaler.pauses.store import MemoryStore, PauseStore
from autoscaler.pauses.zookeeper import ZooKeeperStore
from autoscaler.settings import Settings

__all__ = ["open_store"]


def open_store(settings: Settings, logger: logging.Logger) -> PauseStore:
    """The store the settings name, ready to use. Blocks (it may connect to ZooKeeper)."""
    try:
        if settings.zk_hosts:
            try:
                zookeeper = ZooKeeperStore(
                    settings.zk_hosts,
                    settings.zk_pause_path,
                    session_timeout=settings.zk_session_timeout.total_seconds(),
                )
            except ValueError as exc:
                raise ConfigurationError(f"invalid settings: AUTOSCALER_ZK_PAUSE_PATH: {exc}") from None
            if not zookeeper.start(timeout=min(10.0, settings.zk_session_timeout.total_seconds())):
                logger.warning(
                    "ZooKeeper (%s) does not answer yet for the pauses: every app is held until it does",
                    settings.zk_hosts,
                    extra={"fields": {"event": "pause_store_error", "store": "zookeeper"}},
                )
            return zookeeper
        if settings.state_dir is not None:
            state = FileStore(settings.state_dir)
            state.check()
            return state
    except PauseStoreError as exc:
        raise ConfigurationError(f"the pause store cannot be used: {exc}") from None
    logger.warning(
        "pauses are kept in memory only: a restart forgets them; set AUTOSCALER_STATE_DIR (a persistent "
        "volume) or AUTOSCALER_ZK_HOSTS to keep them",
        extra={"fields": {"event": "pause_store", "store": "memory"}},
    )
    return MemoryStore()
