"""`jogg-flow state migrate`: copy a state between stores, unchanged, with both locked."""

from __future__ import annotations

from ..errors import StateError
from . import describe_location, locked


def migrate(source: str, dest: str, name: str, *, force: bool = False) -> int:
    """Copy every record and the identity from `source` to `dest`; return how many videos.

    A destination that already holds videos is refused unless `force`: two states merged
    by accident would make one API's videos look finished at another.
    """
    if source == dest:
        raise StateError("--from and --to are the same state")
    with locked(source, name) as src, locked(dest, name) as dst:
        if dst.videos and not force:
            raise StateError(f"{describe_location(dest, name)} already holds {len(dst.videos)} "
                             "videos; --force replaces them")
        replace_all = getattr(dst, "replace_all", None)
        if replace_all is not None:
            replace_all(src.videos, src.identity)  # one transaction
        else:
            for key in [k for k in dst.videos if k not in src.videos]:
                dst.put(key, None)
            for key, record in src.videos.items():
                dst.put(key, record)
            if src.identity is not None:
                dst.set_identity(src.identity)
        return len(src.videos)
