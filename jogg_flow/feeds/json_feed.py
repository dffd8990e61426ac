"""JSON feeds (an array of objects, or an object holding one such array) and JSON Lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .base import FeedError, Item, Row, Source, scalar, utf8_lines

MAX_JSON_BYTES = 256 * 1024 * 1024
_WS = " \t\r\n"


def read_jsonl(source: Source) -> Iterator[Item]:
    """One object per line, read a line at a time; blank lines are skipped."""
    for number, line in enumerate(utf8_lines(source.stream), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            col = err.colno if err.lineno == 1 else len(line.rstrip("\r\n")) + 1  # at the line's end
            yield FeedError(number, f"is not valid JSON: {err.msg}", col=col)
            continue
        yield _row(number, item)


def read_json(source: Source) -> Iterator[Item]:
    """The objects of the document's one array, each at the line where it starts.

    The json module reads the document (no streaming parser in the standard library); the
    array is then walked with `raw_decode` so each object knows its line.
    """
    raw = source.stream.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise FeedError(1, f"is larger than {MAX_JSON_BYTES} bytes; use JSON Lines for big feeds")
    text = "".join(utf8_lines(raw.splitlines(keepends=True)))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise FeedError(err.lineno, f"is not valid JSON: {err.msg}", col=err.colno) from None
    start = _array_start(text, data)
    decoder = json.JSONDecoder()
    pos, line = start + 1, 1 + text.count("\n", 0, start + 1)
    while True:
        skip = _skip(text, pos)
        line += text.count("\n", pos, skip)
        pos = skip
        if text[pos] == "]":
            return
        item, end = decoder.raw_decode(text, pos)
        yield _row(line, item)
        line += text.count("\n", pos, end)
        pos = _skip(text, end)
        line += text.count("\n", end, pos)
        if text[pos] == ",":
            pos += 1


def _array_start(text: str, data: Any) -> int:
    """Where the array of products opens: the document itself, or its object's one array."""
    if isinstance(data, list):
        return _skip(text, 0)
    arrays = [k for k, v in data.items() if isinstance(v, list)] if isinstance(data, dict) else []
    if len(arrays) != 1:
        found = f"an object with {len(arrays)} arrays" if isinstance(data, dict) else type(data).__name__
        raise FeedError(1, f"must be an array of objects, or an object holding exactly one array "
                        f"(found {found})")
    # Walk the object's members with the json decoder to the array's opening bracket.
    decoder = json.JSONDecoder()
    pos = _skip(text, 0) + 1
    while True:
        pos = _skip(text, pos)
        key, pos = decoder.raw_decode(text, pos)
        pos = _skip(text, _skip(text, pos) + 1)  # past ':'
        if key == arrays[0] and text[pos] == "[":
            return pos
        _, pos = decoder.raw_decode(text, pos)
        pos = _skip(text, pos) + 1  # past ','


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _row(line: int, item: Any) -> Item:
    if not isinstance(item, dict):
        return FeedError(line, f"item is {_what(item)}, not an object")
    return Row(line, {str(k): scalar(v) for k, v in item.items()})


def _what(item: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(item), "a number")
