"""Records kept as their JSON text, decoded when read: the state of 50,000 finished videos
is about 35 MB of text instead of 250 MB of dicts (#15), and a write needs no deep copy
(the text is the copy). Also a reader of the snapshot that checks one record at a time,
so loading never holds the whole snapshot as objects."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..errors import StateError

Record = dict[str, Any]
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def dump(value: Any) -> str:
    """The one canonical text of a value: sorted keys, no spaces (as journal lines are)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class Records(Mapping[str, Record]):
    """A read-only view key -> record over the texts a store keeps; each read decodes a
    fresh record, safe to change."""

    __slots__ = ("_texts", "_where")

    def __init__(self, texts: dict[str, str], where: str) -> None:
        self._texts, self._where = texts, where

    def __getitem__(self, key: str) -> Record:
        try:
            record: Record = json.loads(self._texts[key])
        except (ValueError, RecursionError):
            raise StateError(f"{self._where}: the record of '{key}' is damaged") from None
        return record

    def __contains__(self, key: object) -> bool:
        return key in self._texts

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def __repr__(self) -> str:
        return f"Records({len(self._texts)} videos)"


def scan_snapshot(text: str, on_video: Callable[[str, Any, str], None]) -> dict[str, Any]:
    """The snapshot's top-level fields, `videos` excepted, read without building it: each
    video goes to `on_video(key, record, its JSON text)` as it is met, then is let go.
    ValueError when the text is not one JSON object."""
    head: dict[str, Any] = {}
    i = _object(text, _skip(text, 0), lambda key, at: _member(text, key, at, head, on_video))
    if _skip(text, i) != len(text):
        raise ValueError("extra data after the state object")
    return head


def _member(text: str, key: str, at: int, head: dict[str, Any],
            on_video: Callable[[str, Any, str], None]) -> int:
    if key == "videos" and text.startswith("{", at):
        head["videos"] = True
        return _object(text, at, lambda k, start: _video(text, k, start, on_video))
    head[key], end = _DECODER.raw_decode(text, at)
    return int(end)


def _video(text: str, key: str, start: int, on_video: Callable[[str, Any, str], None]) -> int:
    record, end = _DECODER.raw_decode(text, start)
    on_video(key, record, text[start:end])
    return int(end)


def _object(text: str, i: int, member: Callable[[str, int], int]) -> int:
    """Walk the object at `text[i]`, calling `member(key, index of its value)`, which
    returns where the value ends; returns where the object ends."""
    if not text.startswith("{", i):
        raise ValueError(f"an object expected at {i}")
    i = _skip(text, i + 1)
    if text.startswith("}", i):
        return i + 1
    while True:
        key, i = _DECODER.raw_decode(text, i)
        if not isinstance(key, str):
            raise ValueError(f"a key expected at {i}")
        i = _skip(text, i)
        if not text.startswith(":", i):
            raise ValueError(f"':' expected at {i}")
        i = _skip(text, member(key, _skip(text, i + 1)))
        if text.startswith(",", i):
            i = _skip(text, i + 1)
        elif text.startswith("}", i):
            return i + 1
        else:
            raise ValueError(f"',' or '}}' expected at {i}")


def _skip(text: str, i: int) -> int:
    """Past the JSON whitespace at `i`."""
    match = _WS.match(text, i)
    return match.end() if match else i
