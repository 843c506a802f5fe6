"""Where pauses are kept, so that every instance sees the same ones and a restart forgets none.

Three backends behind one interface (`PauseStore`): ZooKeeper when `AUTOSCALER_ZK_HOSTS` is set
(every instance of the service reads the same node), a small state file in `AUTOSCALER_STATE_DIR`
(survives a restart of the one instance), else memory (lost on restart; the service warns at start).
All three hold one JSON document (`autoscaler.pauses.codec`), bounded in size, that every change
rewrites as a whole: atomically on the file system, with a version check on ZooKeeper.
"""

from autoscaler.pauses.codec import MAX_DOCUMENT_BYTES, MAX_PAUSES
from autoscaler.pauses.store import MemoryStore, PauseStore, PauseStoreError

__all__ = ["MAX_DOCUMENT_BYTES", "MAX_PAUSES", "MemoryStore", "PauseStore", "PauseStoreError"]
