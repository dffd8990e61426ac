"""A manifest, from its YAML file to the videos it asks for.

`loader` reads YAML with line marks, `schema` checks it (the valid case answered by the
generated `_schema_fast`), `templating` renders Jinja in a sandbox bounded by
`jinja_limits`, `build` merges defaults and normalises, `feed_rows` turns the rows of
`products_from` feeds into products, and `model` holds the result: `Manifest` and `Video`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import Manifest, Video

if TYPE_CHECKING:
    from .build import load_manifest

__all__ = ["Manifest", "Video", "load_manifest"]


def __getattr__(name: str) -> Any:
    # `build` loads on first use, so `python -m jogg_flow.manifest.schema` (which regenerates
    # `_schema_fast`) runs its module before anything imported it.
    if name == "load_manifest":
        from .build import load_manifest

        return load_manifest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
