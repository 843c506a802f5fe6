"""Pauses in a small state file, `pauses.json` in `AUTOSCALER_STATE_DIR`, for a single instance.

Put the directory on a persistent volume (the Marathon deploy example does) and a restart finds
the pauses it had. Every change writes a new file beside the old one, flushes it to disk and
renames it over the old one, so a crash leaves the old document or the new one, never half of
either. The file is read with a byte limit; a file that is too large, not JSON or not a pause
document is an error that names the file and the problem, and is never overwritten: the operator
fixes or removes it, and nothing it held is lost.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path

from autoscaler.core.pause import Pause
from autoscaler.pauses.codec import MAX_DOCUMENT_BYTES, PauseStoreError, decode, encode
from autoscaler.pauses.store import Change, PauseStore, check_count

__all__ = ["FILE_NAME", "FileStore"]

FILE_NAME = "pauses.json"


class FileStore(PauseStore):
    kind = "file"
    durable = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"file {self.path}"

    def check(self) -> None:
        """At start: the directory is writable and the file, if any, is a valid document."""
        if not self.directory.is_dir():
            raise PauseStoreError(f"the state directory {self.directory} (AUTOSCALER_STATE_DIR) does not exist")
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise PauseStoreError(f"the state directory {self.directory} (AUTOSCALER_STATE_DIR) is not writable")
        self.load()

    def load(self) -> dict[str, Pause]:
        with self._lock:
            return self._read()

    def update(self, change: Change) -> dict[str, Pause]:
        with self._lock:
            pauses = self._read()
            changed = change(dict(pauses))
            if changed is None:
                return pauses
            check_count(changed)
            self._write(encode(changed.values()))
            return dict(changed)

    def _read(self) -> dict[str, Pause]:
        what = f"the pause state file {self.path}"
        try:
            with self.path.open("rb") as handle:
                data = handle.read(MAX_DOCUMENT_BYTES + 1)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise PauseStoreError(f"{what} cannot be read ({exc.strerror})") from None
        if len(data) > MAX_DOCUMENT_BYTES:
            raise PauseStoreError(f"{what} is over {MAX_DOCUMENT_BYTES} bytes; fix or remove it")
        try:
            return decode(data, what=what)
        except PauseStoreError as exc:
            raise PauseStoreError(f"{exc}; fix or remove the file (it is left as it is)") from None

    def _write(self, data: bytes) -> None:
        try:
            handle, temporary = tempfile.mkstemp(prefix=".pauses-", suffix=".tmp", dir=self.directory)
        except OSError as exc:
            raise PauseStoreError(f"cannot write in {self.directory} ({exc.strerror})") from None
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise PauseStoreError(f"cannot write {self.path} ({exc.strerror})") from None
        with contextlib.suppress(OSError):  # the rename itself, durable (not every file system allows it)
            directory = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
