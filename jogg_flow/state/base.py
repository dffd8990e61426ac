"""What the executor and the commands need from a state, whichever store holds it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

Record = dict[str, Any]


class Store(Protocol):
    """Video records by key, plus the identity of the API they were made against.

    `videos` is a read-only view (key -> record) kept current by `put`; `get` returns a
    copy; `put` is durable before it returns; `notes` says what loading repaired.
    """

    identity: dict[str, Any] | None
    notes: list[str]
    existed: bool
    took_over: dict[str, Any] | None

    @property
    def videos(self) -> Mapping[str, Record]:
        """Key -> record, read-only (the file store decodes each on reading)."""

    def get(self, key: str) -> Record | None:
        """A copy of the record for `key`."""

    def put(self, key: str, record: Record | None) -> None:
        """Record (or with None, forget) one video, durably."""

    def set_identity(self, identity: dict[str, Any]) -> None:
        """Record the API this state describes."""

    def save(self) -> None:
        """Make everything put so far as compact as the store allows."""

    def close(self) -> None:
        """Release what the store holds (files, connections, the lock)."""
