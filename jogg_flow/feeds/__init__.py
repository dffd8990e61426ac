"""Products from catalogue feeds: CSV/TSV, Shopify export, JSON/JSON Lines, Merchant XML.

`read_feed` opens one feed (a file beside the manifest, or an https URL) and yields its
rows; `products.feed_videos` turns them into videos through the manifest's own path.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

from . import fetch as fetching
from .base import FeedError, Item, Row, Source
from .csv_feed import read_csv, read_shopify
from .fetch import FetchError
from .files import open_inside
from .json_feed import read_json, read_jsonl
from .merchant_xml import read_merchant_xml

__all__ = ["FORMATS", "FeedError", "FetchError", "Hashing", "Row", "Source", "format_of", "open_feed",
           "read"]

Reader = Callable[[Source], Iterator[Item]]
FORMATS: dict[str, Reader] = {
    "csv": read_csv,
    "tsv": lambda source: read_csv(source, "\t"),
    "merchant-tsv": lambda source: read_csv(source, "\t"),
    "shopify": read_shopify,
    "json": read_json,
    "jsonl": read_jsonl,
    "merchant-xml": read_merchant_xml,
}
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv", ".json": "json",
               ".jsonl": "jsonl", ".ndjson": "jsonl", ".xml": "merchant-xml",
               ".rss": "merchant-xml", ".atom": "merchant-xml"}


def format_of(name: str, given: str | None) -> str | None:
    """The feed's format: as given, else from its extension (None when neither says)."""
    if given:
        return given
    path = name.split("?", 1)[0].split("#", 1)[0]
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower())


class Hashing:
    """A feed's bytes, hashed as they are read (by lines or by chunks) and on close."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.hash = hashlib.sha256()
        self.digest: str | None = None

    def read(self, size: int = -1, /) -> bytes:
        data = self.stream.read(size)
        self.hash.update(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            self.hash.update(line)
            yield line

    def close(self) -> None:
        """Hash what a reader left unread (it stopped at an error), then close."""
        if self.digest is None:
            for block in iter(lambda: self.stream.read(1 << 20), b""):
                self.hash.update(block)
            self.digest = "sha256:" + self.hash.hexdigest()
        self.stream.close()


def open_feed(name: str, file: tuple[str, str] | None, url: str | None, *,
              loopback_http: bool = False) -> tuple[Source, Hashing]:
    """An opened feed, and its stream, whose `digest` is set once `read` has ended.

    `file` is (the manifest's folder, the name the manifest gives): the feed is read only
    when it is a regular file inside that folder (see `files.inside`). A refusal is a
    FetchError, placed on the manifest's `file:` line like a URL that cannot be fetched."""
    stream: BinaryIO
    if url is not None:
        stream = io.BytesIO(fetching.fetch(url, loopback_http=loopback_http))
    else:
        assert file is not None
        stream = open_inside(*file, shown=name)  # closed when `read` ends
    hashing = Hashing(stream)
    return Source(name, hashing), hashing


def read(source: Source, fmt: str, stream: Hashing) -> Iterator[Item]:
    """The feed's rows (and bad rows as FeedError); a FeedError raised ends the feed."""
    try:
        yield from FORMATS[fmt](source)
    finally:
        stream.close()
