"""What a manifest asks for, as the rest of jogg-flow sees it: the videos and the manifest.

Built by `manifest.build`; read by the planner, the engine, the app and the presentation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import loader


@dataclass(frozen=True)
class Video:
    """One video the manifest asks for, with API-ready details and render settings."""

    key: str
    product: str
    variant: str | None
    url: str
    tags: tuple[str, ...]
    details: dict[str, Any]
    render: dict[str, Any]
    index: int  # the product's position in the file, for pointing at its line
    # v2: the visual styles `jogg-flow preview` previews (render.preview_styles); not an input
    # of the render itself.
    preview_styles: tuple[str, ...] = ()
    # Local media: content hash -> the file it is read from, relative to the manifest (not an
    # input: only the content is; see manifest.media_files).
    local_files: dict[str, str] = field(default_factory=dict, compare=False)

    def inputs(self) -> dict[str, Any]:
        """What decides the remote result; a change in any of it needs a fresh video."""
        return {"url": self.url, "details": self.details, "render": self.render}


@dataclass(frozen=True)
class Manifest:
    """A validated manifest."""

    file: str
    name: str
    api_version: str  # open | v1 | v2
    base_url: str | None
    post_rate: tuple[int, float] | None
    videos: list[Video]
    doc: loader.Document = field(repr=False)
    feeds: tuple[Any, ...] = ()  # feeds.products.FeedInfo, one per `products_from` entry read
    # `api.rerender_unseen_after` in seconds: the settle rule the team chose (None: off)
    rerender_unseen_after: float | None = None
    moved: tuple[tuple[str, str], ...] = ()  # `moved:` (from, to): renamed videos

    def line_of(self, video: Video) -> int:
        """The line of the product (or of the `products_from` feed) that declares `video`."""
        if video.index >= 0:
            return self.doc.product_line(video.index)
        return loader.locate(self.doc.root, ("products_from", -1 - video.index)).start_mark.line + 1


def parse_rate(text: str) -> tuple[int, float]:
    """'20/60s' -> (20, 60.0)."""
    match = re.fullmatch(r"([1-9][0-9]*)/([0-9]+(?:\.[0-9]+)?)s", text.strip())
    if not match or float(match.group(2)) <= 0:
        raise ValueError(f"rate {text!r} must look like N/Ts, e.g. 20/60s")
    return int(match.group(1)), float(match.group(2))


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '5h30m' -> seconds (ValueError for anything else)."""
    number = r"([0-9]+(?:\.[0-9]+)?)"
    match = re.fullmatch(rf"(?=[0-9])(?:{number}h)?(?:{number}m)?(?:{number}s?)?", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration: give e.g. 90s, 15m, 5h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds
