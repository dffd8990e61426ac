"""Where a manifest's state lives, and the lock that keeps runs apart.

`file` is the default store (a JSON snapshot and a self-sufficient journal beside the
manifest, with `lock` as its one-run-at-a-time guard); `postgres` keeps the state in a
PostgreSQL database for runners that share it (`--state postgresql://...`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from . import identity
from .base import Store
from .dsn import describe as describe_dsn
from .dsn import is_postgres, split
from .file import FORMAT_VERSION, Record, State, default_path
from .lock import Lock, describe, unlock

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
def locked(location: str, name: str) -> Iterator[Store]:
    """Hold the state's lock, read it, and save and release it on the way out."""
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
