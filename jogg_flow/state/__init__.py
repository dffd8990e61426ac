"""Where a manifest's state lives, and the lock that keeps runs apart.

`file` is the default store (a JSON snapshot and a self-sufficient journal beside the
manifest, with `lock` as its one-run-at-a-time guard); `postgres` keeps the state in a
PostgreSQL database for runners that share it (`--state postgresql://...`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from ..errors import LockedError
from . import identity
from .base import Store
from .dsn import describe as describe_dsn
from .dsn import is_postgres, split
from .file import FORMAT_VERSION, Record, State, default_path
from .lock import UNLOCK, Lock, describe, unlock

__all__ = ["FORMAT_VERSION", "Lock", "Record", "State", "Store", "default_path", "describe",
           "describe_location", "identity", "is_postgres", "load", "locked", "unlock"]


def describe_location(location: str, name: str) -> str:
    """The state's place for messages: its file, or its database without the password."""
    if is_postgres(location):
        dsn, fragment = split(location)
        return describe_dsn(dsn, fragment or name)
    return location


def load(location: str, name: str) -> Store:
    """Read a state without locking it (plan, outputs, state list/show)."""
    if is_postgres(location):
        from .postgres import PgStore

        return PgStore.open(location, name, lock=False)
    return State.load(location)


@contextlib.contextmanager
def locked(location: str, name: str, *, wait: float = 0.0, unlock: str = "",
           on_wait: Callable[[str], None] | None = None,
           stop: threading.Event | None = None) -> Iterator[Store]:
    """Hold the state's lock, read it, and save and release it on the way out. A lock held by
    another run is waited for up to `wait` seconds (`on_wait` hears it once; `stop` ends the
    wait), then refused; `unlock` is the command that frees a dead run's lock, as this run's
    user would type it."""
    deadline, told = time.monotonic() + wait, False
    while True:
        stack = contextlib.ExitStack()
        try:
            store = stack.enter_context(_locked(location, name))
            break
        except LockedError as err:
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                remedy = err.remedy.replace(UNLOCK, f"`{unlock}`") if unlock else err.remedy
                waited = f"waited {wait:g} s for it; " if wait else ""
                raise LockedError(err.held, waited + remedy) from None
            if on_wait and not told:
                on_wait(f"waiting up to {left:.0f} s for the state's lock: {err.held}")
                told = True
            if stop is not None:
                stop.wait(min(_LOCK_POLL, left))
            else:
                time.sleep(min(_LOCK_POLL, left))
    with stack:
        yield store


_LOCK_POLL = 0.5  # how often a waiting run looks at the lock again


@contextlib.contextmanager
def _locked(location: str, name: str) -> Iterator[Store]:
    if is_postgres(location):
        from .postgres import PgStore

        store = PgStore.open(location, name, lock=True)
        try:
            yield store
        finally:
            store.close()
        return
    lock = Lock(location)
    with lock.held():
        state = State.load(location)
        state.took_over = lock.stale
        try:
            state.repair()  # a lost snapshot is back before anything else happens
            yield state
        finally:
            try:
                state.save()
            finally:
                state.close()
