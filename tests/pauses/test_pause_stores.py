"""The memory and state-file stores: changes are atomic, survive a new store on the same directory,
and hostile files give a clear error while nothing is lost or overwritten."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoscaler.core.pause import Pause, make_pause
from autoscaler.pauses import MAX_DOCUMENT_BYTES, MAX_PAUSES, MemoryStore, PauseStore, PauseStoreError
from autoscaler.pauses.codec import decode, encode
from autoscaler.pauses.statefile import FILE_NAME, FileStore

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def _put(pause: Pause):  # type: ignore[no-untyped-def]
    def change(held: dict[str, Pause]) -> dict[str, Pause]:
        held[pause.scope] = pause
        return held

    return change


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PauseStore:
    return MemoryStore() if request.param == "memory" else FileStore(tmp_path)


def test_put_load_remove(store: PauseStore) -> None:
    pause = make_pause(scope="/shop/*", now=T0, reason="sale", by="alice")
    assert store.load() == {}
    assert store.update(_put(pause)) == {"/shop/*": pause}
    assert store.load() == {"/shop/*": pause}
    assert store.update(lambda held: None) == {"/shop/*": pause}
    assert store.update(lambda held: {k: v for k, v in held.items() if k != "/shop/*"}) == {}
    assert store.load() == {}


def test_the_count_is_bounded(store: PauseStore) -> None:
    many = {f"/app-{i}": make_pause(scope=f"/app-{i}", now=T0) for i in range(MAX_PAUSES + 1)}
    with pytest.raises(PauseStoreError, match=f"at most {MAX_PAUSES} pauses"):
        store.update(lambda held: many)
    assert store.load() == {}


def test_the_longest_allowed_document_fits_the_byte_limit() -> None:
    pauses = [
        make_pause(scope=f"/{'a' * 491}-{i:05d}/*", now=T0, reason="\U0001f600" * 200, by="\U0001f600" * 100)
        for i in range(MAX_PAUSES)
    ]
    assert all(len(pause.scope) == 500 for pause in pauses)
    data = encode(pauses)
    assert len(data) <= MAX_DOCUMENT_BYTES
    assert decode(data, what="test") == {pause.scope: pause for pause in pauses}


def test_a_new_file_store_on_the_same_directory_sees_the_pauses(tmp_path: Path) -> None:
    pause = make_pause(scope="/a", now=T0, duration=timedelta(hours=2))
    FileStore(tmp_path).update(_put(pause))
    assert FileStore(tmp_path).load() == {"/a": pause}
    # written whole, then renamed: no temporary file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME]


HOSTILE = {
    "not json": b"{nope",
    "too deep": b"[" * 100 + b"]" * 100,
    "wrong version": b'{"version": 2, "pauses": []}',
    "pauses not a list": b'{"version": 1, "pauses": {}}',
    "bad scope": b'{"version": 1, "pauses": [{"scope": "shop", "since": "2026-12-02T01:00:00+00:00", '
    b'"until": "2026-12-02T02:00:00+00:00"}]}',
    "naive time": b'{"version": 1, "pauses": [{"scope": "/a", "since": "2026-12-02T01:00:00", '
    b'"until": "2026-12-02T02:00:00+00:00"}]}',
    "until before since": b'{"version": 1, "pauses": [{"scope": "/a", "since": "2026-12-02T03:00:00+00:00", '
    b'"until": "2026-12-02T02:00:00+00:00"}]}',
    "reason too long": json.dumps(
        {
            "version": 1,
            "pauses": [
                {
                    "scope": "/a",
                    "since": T0.isoformat(),
                    "until": (T0 + timedelta(hours=1)).isoformat(),
                    "reason": "x" * 201,
                }
            ],
        }
    ).encode(),
    "twice": json.dumps(
        {
            "version": 1,
            "pauses": [{"scope": "/a", "since": T0.isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()}] * 2,
        }
    ).encode(),
    "too large": b" " * (MAX_DOCUMENT_BYTES + 1) + b"{}",
    "binary": bytes(range(256)),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_state_file_is_a_clear_error_and_is_never_overwritten(tmp_path: Path, name: str) -> None:
    path = tmp_path / FILE_NAME
    path.write_bytes(HOSTILE[name])
    store = FileStore(tmp_path)
    with pytest.raises(PauseStoreError) as error:
        store.check()
    assert str(path) in str(error.value)
    with pytest.raises(PauseStoreError):
        store.update(_put(make_pause(scope="/b", now=T0)))
    assert path.read_bytes() == HOSTILE[name]


def test_a_missing_or_read_only_state_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PauseStoreError, match="does not exist"):
        FileStore(tmp_path / "nowhere").check()
    if os.geteuid() == 0:
        return  # root writes anywhere; the existence check above still ran
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PauseStoreError, match="not writable"):
            FileStore(tmp_path).check()
    finally:
        tmp_path.chmod(0o700)


def test_a_failed_write_keeps_the_old_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileStore(tmp_path)
    first = make_pause(scope="/a", now=T0)
    store.update(_put(first))

    def broken(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(PauseStoreError, match="No space left"):
        store.update(_put(make_pause(scope="/b", now=T0)))
    monkeypatch.undo()
    assert FileStore(tmp_path).load() == {"/a": first}
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME]
