"""Where a manifest's state lives, and the lock that keeps runs apart.

`file` is the default store (a JSON snapshot and an append-only journal beside the
manifest); `lock` is its one-run-at-a-time guard.
"""

from __future__ import annotations

from .file import FORMAT_VERSION, Record, State, default_path
from .lock import Lock, describe, unlock

__all__ = ["FORMAT_VERSION", "Lock", "Record", "State", "default_path", "describe", "unlock"]
