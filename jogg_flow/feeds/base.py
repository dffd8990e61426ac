"""What every feed reader gives: rows that know their line, and errors that name it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

Value = Any  # str, a list of str, or (JSON) a nested mapping


@dataclass(frozen=True)
class Row:
    """One feed record: its first line in the feed and its values by column name."""

    line: int
    values: dict[str, Value]


class FeedError(Exception):
    """A problem at a line of a feed; the message is user-facing.

    Readers raise it when the rest of the feed cannot be read (bad encoding, broken
    quoting) and yield it for a bad row, so every bad row is reported at once.
    """

    def __init__(self, line: int, message: str, col: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.col = col
        self.message = message


Item = Row | FeedError


class Stream(Protocol):
    """What readers use of a feed's bytes: chunks, or lines."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to `size` bytes (all with -1); b'' at the end."""

    def __iter__(self) -> Iterator[bytes]:
        """The lines, each with its line ending."""


@dataclass
class Source:
    """An opened feed: a name for messages and its bytes, read as a stream."""

    name: str
    stream: Stream
    columns: tuple[str, ...] | None = None  # set by readers whose format has a header


def utf8_lines(lines: Iterable[bytes]) -> Iterator[str]:
    """The feed's lines as text (UTF-8, a BOM dropped); other encodings fail at their line."""
    first = True
    for number, raw in enumerate(lines, start=1):
        if first:
            first = False
            if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise FeedError(1, "is UTF-16; save it as UTF-8 (with or without BOM)")
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise FeedError(number, f"is not UTF-8 (byte 0x{raw[err.start]:02x}); "
                            "save it as UTF-8", col=err.start + 1) from None


def scalar(value: Any) -> Value:
    """A JSON or XML value as templates see it: text, lists of text, nested mappings."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return [scalar(v) for v in value]
    if isinstance(value, dict):
        return {str(k): scalar(v) for k, v in value.items()}
    return str(value)


def split_list(text: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c'] (a comma list, as Merchant and Shopify write them)."""
    return [part.strip() for part in text.split(",") if part.strip()]
