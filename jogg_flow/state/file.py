"""The state file: a JSON snapshot plus an append-only journal, and the lock around them.

Each change to a video appends one line holding that video's whole record to the journal,
so a step costs the same with 10 videos or 10,000, and a line is either whole or ignored
after a crash. The snapshot is replaced atomically (write, fsync, rename) when a run ends
or the journal grows large; replaying a journal over a newer snapshot is harmless because
every line is a complete record, so the order of rename and truncate does not matter.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import threading
import uuid
from typing import Any

from ..errors import StateError

FORMAT_VERSION = 1
Record = dict[str, Any]


def default_path(manifest_file: str, name: str) -> str:
    """`.jogg-flow/NAME.state.json` beside the manifest."""
    return os.path.join(os.path.dirname(os.path.abspath(manifest_file)), ".jogg-flow",
                        f"{name}.state.json")


class State:
    """Video records by key; `put` makes a change durable before it returns."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.journal_path = path + ".journal"
        self.lineage = str(uuid.uuid4())
        self.serial = 0
        self.videos: dict[str, Record] = {}
        self._journal_lines = 0
        self._valid_len = 0
        self._fd: int | None = None
        self._mutex = threading.Lock()

    @classmethod
    def load(cls, path: str) -> State:
        """Read snapshot and journal; a missing file is an empty state."""
        state = cls(path)
        try:
            with open(path, encoding="utf-8") as fh:
                snap = json.load(fh)
        except FileNotFoundError:
            snap = None
        except (OSError, ValueError) as err:
            raise StateError(f"{path}: state file is unreadable ({_reason(err)}); "
                             "it was left untouched") from None
        if snap is not None:
            state._adopt(snap)
        state._replay()
        return state

    def _adopt(self, snap: Any) -> None:
        if not isinstance(snap, dict) or not isinstance(snap.get("videos"), dict):
            raise StateError(f"{self.path}: not a jogg-flow state file")
        version = snap.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise StateError(f"{self.path}: state format {version} is newer than this "
                             f"jogg-flow understands ({FORMAT_VERSION}); upgrade jogg-flow")
        self.lineage = str(snap.get("lineage") or self.lineage)
        self.serial = int(snap.get("serial", 0))
        self.videos = snap["videos"]

    def _replay(self) -> None:
        try:
            with open(self.journal_path, "rb") as fh:
                lines = fh.read().split(b"\n")
        except FileNotFoundError:
            return
        except OSError as err:
            raise StateError(f"{self.journal_path}: unreadable ({_reason(err)})") from None
        self._valid_len = sum(len(raw) + 1 for raw in lines[:-1])
        for raw in lines:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # the torn tail of a write cut short by a crash
            if not isinstance(entry, dict) or entry.get("lineage") != self.lineage:
                continue
            if entry.get("serial") != self.serial:
                continue  # written before the snapshot that already holds it
            self._journal_lines += 1
            if entry.get("deleted"):
                self.videos.pop(entry["key"], None)
            elif isinstance(entry.get("record"), dict):
                self.videos[entry["key"]] = entry["record"]

    def get(self, key: str) -> Record | None:
        """A copy of the record for `key`, safe to change and `put` back."""
        with self._mutex:
            record = self.videos.get(key)
            return copy.deepcopy(record) if record is not None else None

    def put(self, key: str, record: Record | None) -> None:
        """Record (or with None, forget) one video, durably."""
        with self._mutex:
            fd = self._journal_fd()  # may write the first snapshot, which sets the serial
            entry: dict[str, Any] = {"lineage": self.lineage, "serial": self.serial, "key": key}
            if record is None:
                entry["deleted"] = True
            else:
                entry["record"] = record
            line = (json.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n").encode()
            end = os.fstat(fd).st_size
            try:
                _write_all(fd, line)
            except OSError as err:
                os.ftruncate(fd, end)  # never leave half a line for the next one to join
                raise StateError(f"{self.journal_path}: cannot write ({_reason(err)}); "
                                 "the state holds everything up to this step") from None
            self._journal_lines += 1
            if record is None:
                self.videos.pop(key, None)
            else:
                self.videos[key] = copy.deepcopy(record)
            if self._journal_lines > max(1000, 2 * len(self.videos)):
                self._compact()

    def save(self) -> None:
        """Fold the journal into the snapshot, if anything was journaled."""
        with self._mutex:
            if self._journal_lines:
                self._compact()

    def close(self) -> None:
        """Release the journal's file descriptor."""
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _journal_fd(self) -> int:
        if self._fd is None:
            if not os.path.exists(self.path):
                self._compact()  # the snapshot fixes the lineage the journal lines refer to
            try:
                self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                if os.fstat(self._fd).st_size > self._valid_len:
                    os.ftruncate(self._fd, self._valid_len)  # drop a torn tail from a crash
            except OSError as err:
                raise StateError(f"{self.journal_path}: cannot write ({_reason(err)})") from None
        return self._fd

    def _compact(self) -> None:
        snap = {"format_version": FORMAT_VERSION, "lineage": self.lineage,
                "serial": self.serial + 1, "videos": self.videos}
        data = json.dumps(snap, indent=1, sort_keys=True).encode() + b"\n"
        _makedirs(os.path.dirname(self.path))
        tmp = f"{self.path}.tmp.{os.getpid()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            _fsync_dir(os.path.dirname(self.path))
        except OSError as err:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise StateError(f"{self.path}: cannot write the state ({_reason(err)}); the "
                             "journal beside it still holds every change") from None
        self.serial += 1
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.truncate(self.journal_path, 0)
        self._journal_lines = 0
        self._valid_len = 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _makedirs(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise StateError(f"{path}: cannot create the state directory ({_reason(err)})") from None


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reason(err: BaseException) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)
