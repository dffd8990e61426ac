"""JSON feeds (an array of objects, or an object holding one such array) and JSON Lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .base import FeedError, Item, Row, Source, scalar, utf8_lines

MAX_JSON_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 32  # arrays and objects within an item: a product never needs more
_WS = " \t\r\n"
_DEEP = "is nested too deeply (a product's item is at most {} levels deep)"


class _Digits(str):
    """A JSON integer kept as the text it was (templates see numbers as text anyway): an
    integer of thousands of digits is never converted (Python refuses past 4,300)."""

    __slots__ = ()


_DECODER = json.JSONDecoder(parse_int=_Digits)  # one: json.loads with a hook makes one per call


def _loads(text: str) -> object:
    return _DECODER.decode(text)


def read_jsonl(source: Source) -> Iterator[Item]:
    """One object per line, read a line at a time; blank lines are skipped."""
    for number, line in enumerate(utf8_lines(source.stream), start=1):
        if not line.strip():
            continue
        try:
            item = _loads(line)
        except json.JSONDecodeError as err:
            col = err.colno if err.lineno == 1 else len(line.rstrip("\r\n")) + 1  # at the line's end
            yield FeedError(number, f"is not valid JSON: {err.msg}", col=col)
            continue
        except RecursionError:
            yield FeedError(number, _DEEP.format(MAX_DEPTH))
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
        data = _loads(text)
    except json.JSONDecodeError as err:
        raise FeedError(err.lineno, f"is not valid JSON: {err.msg}", col=err.colno) from None
    except RecursionError:
        raise FeedError(_deep_line(text), _DEEP.format(MAX_DEPTH)) from None
    start = _array_start(text, data)
    decoder = _DECODER
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
    decoder = _DECODER
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
    if _depth(item) > MAX_DEPTH:
        return FeedError(line, _DEEP.format(MAX_DEPTH))
    return Row(line, {str(k): scalar(v) for k, v in item.items()})


def _deep_line(text: str) -> int:
    """The line where the document nests deeper than an item may (the array of products and
    its object count too), for a document too deep for the json module to read."""
    depth, line, quoted, escaped = 0, 1, False, False
    for c in text:
        if quoted:
            quoted = escaped or c != '"'
            escaped = not escaped and c == "\\"
        elif c == '"':
            quoted = True
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH + 2:
                return line
        elif c in "]}":
            depth -= 1
        if c == "\n":
            line += 1
    return 1


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in `value` (walked without recursion)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                todo.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def _what(item: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(item), "a number")
