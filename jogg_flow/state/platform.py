"""What differs between Linux, macOS and Windows under the state: file locks, durable writes,
process liveness. The state calls these, never the platform modules.

Each call picks what the platform has at call time (so a test can take a facility away in
a child process and watch the fallback): `fcntl.flock`, else `msvcrt.locking`; `fdatasync`,
else macOS's `F_FULLFSYNC`, else `fsync`; a directory fsync where directories can be opened.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from types import ModuleType
from typing import Any

# msvcrt locks byte ranges; one byte far past any holder text keeps that text readable.
_LOCK_OFFSET = 2**30


class LockBusy(OSError):
    """Another process holds the lock."""


class NoLocking(OSError):
    """The platform offers no file lock jogg-flow knows."""


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def lock_exclusive(fd: int) -> None:
    """Take an exclusive lock on `fd` without waiting: LockBusy if another process holds it,
    NoLocking where the platform has no lock. The lock ends with the process."""
    fcntl = _module("fcntl")
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EACCES):
                raise LockBusy(err.errno, err.strerror) from None
            raise
        return
    msvcrt: Any = _module("msvcrt")
    if msvcrt is not None:
        where = os.lseek(fd, 0, os.SEEK_CUR)
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as err:
            raise LockBusy(errno.EACCES, err.strerror or "locked") from None
        finally:
            os.lseek(fd, where, os.SEEK_SET)
        return
    raise NoLocking(errno.ENOLCK, "this platform has neither fcntl nor msvcrt file locks")


def read_at(fd: int, size: int, offset: int) -> bytes:
    """`os.pread` where it exists (POSIX), else seek and read."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


def write_at(fd: int, data: bytes, offset: int) -> None:
    """`os.pwrite` where it exists (POSIX), else seek and write, all of `data`."""
    view = memoryview(data)
    while view:
        if hasattr(os, "pwrite"):
            done = os.pwrite(fd, view, offset)
        else:
            os.lseek(fd, offset, os.SEEK_SET)
            done = os.write(fd, view)
        view, offset = view[done:], offset + done


def sync_data(fd: int) -> None:
    """Make what was written to `fd` durable: `fdatasync` (Linux), `F_FULLFSYNC` (macOS,
    where fsync alone leaves data in the drive's cache), else `fsync` (Windows too)."""
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
        return
    fcntl: Any = _module("fcntl")
    if sys.platform == "darwin" and fcntl is not None and hasattr(fcntl, "F_FULLFSYNC"):
        try:
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
        except OSError:
            pass  # a file system without it (some network mounts): fsync below
    os.fsync(fd)


def sync_dir(path: str) -> None:
    """Make a rename in directory `path` durable, where directories can be opened and synced
    (POSIX); on Windows a rename is durable once `os.replace` returns."""
    if os.name == "nt":
        return
    fd = os.open(path or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (a probe: nothing is sent to it)."""
    if os.name == "nt":
        return _alive_windows(pid)
    try:
        os.kill(pid, 0)  # signal 0 only checks; on Windows os.kill would stop the process
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alive_windows(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes

    kernel32: Any = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    code = ctypes.c_ulong()
    try:
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
    finally:
        kernel32.CloseHandle(handle)
    return code.value == 259  # STILL_ACTIVE
