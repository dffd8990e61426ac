"""One run at a time on a state file: a lock on `STATE.lock` (flock, or msvcrt on Windows),
naming its holder.

Releasing removes the lock file while still holding it. A run that opened that file just
before it vanished would otherwise hold an flock on a deleted inode while a third run locks
a new file of the same name, so after locking, a run checks that the file it locked is still
the one on disk, and starts over if not.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from ..errors import LockedError, StateError
from . import platform
from .file import _makedirs, _reason, resolve

UNLOCK = "`jogg-flow unlock`"  # a caller that knows the run's manifest and flags names them


class Lock:
    """One run at a time: an flock on `STATE.lock`, which names its holder.

    The kernel drops an flock when its process dies, so a lock left by a killed run is
    free again at once; its file still names the old holder, which is reported.
    """

    def __init__(self, state_path: str) -> None:
        self.path = resolve(state_path) + ".lock"
        self._fd: int | None = None
        self.stale: dict[str, Any] | None = None

    def acquire(self) -> None:
        """Take the lock or raise StateError naming the holder."""
        _makedirs(os.path.dirname(self.path))
        while True:
            fd = self._lock_once()
            if _same_file(fd, self.path):
                break
            os.close(fd)  # released and removed by its holder meanwhile: lock the new one
        previous = _holder(fd)
        if previous:
            self.stale = previous
        os.ftruncate(fd, 0)
        platform.write_at(fd, json.dumps(holder_info()).encode(), 0)
        self._fd = fd

    def _lock_once(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise StateError(f"{self.path}: cannot create the lock ({_reason(err)})") from None
        try:
            platform.lock_exclusive(fd)
        except platform.LockBusy:
            holder = _holder(fd)
            os.close(fd)
            raise LockedError(f"state is locked by another run: {describe(holder)}",
                              f"if that run is gone, {UNLOCK} frees it") from None
        except OSError as err:
            os.close(fd)
            raise StateError(f"{self.path}: cannot lock ({_reason(err)})") from None
        return fd

    def release(self) -> None:
        """Remove the lock file, then free the lock (others re-check the file they locked)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    @contextlib.contextmanager
    def held(self) -> Iterator[Lock]:
        """`with Lock(path).held():` around a run."""
        self.acquire()
        try:
            yield self
        finally:
            self.release()


def unlock(state_path: str) -> dict[str, Any] | None:
    """Remove a lock file; return whom it named. Refuses while a live run holds it."""
    lock = Lock(state_path)
    lock.acquire()
    previous = lock.stale
    lock.release()
    return previous


def describe(holder: Any) -> str:
    """'pid 123 on host, started 2026-... (CI run URL)' for messages."""
    if not isinstance(holder, dict) or not holder:
        return "an unknown process"
    text = f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
    return text + (f" ({holder['ci']})" if holder.get("ci") else "")


def holder_info() -> dict[str, Any]:
    """Who takes a lock: host, pid, start time, and the CI run when the environment names it."""
    info: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname(),
                            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    env = os.environ
    if env.get("GITHUB_RUN_ID"):
        info["ci"] = (f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/"
                      f"{env.get('GITHUB_REPOSITORY', '')}/actions/runs/{env['GITHUB_RUN_ID']}")
    elif env.get("CI_JOB_URL"):
        info["ci"] = env["CI_JOB_URL"]
    return info


def _holder(fd: int) -> dict[str, Any] | None:
    try:
        raw = platform.read_at(fd, 4096, 0)
        value = json.loads(raw) if raw else None
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _same_file(fd: int, path: str) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)
