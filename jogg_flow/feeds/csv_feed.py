"""CSV and TSV feeds (a header row), Merchant TSV, and Shopify's product export."""

from __future__ import annotations

import csv
import html.parser
from collections.abc import Iterator
from typing import Any

from .base import FeedError, Item, Row, Source, split_list, utf8_lines

# Merchant Center's field for extra images: a comma list, or the column repeated.
LIST_COLUMNS = ("additional_image_link",)


def read_csv(source: Source, delimiter: str = ",") -> Iterator[Item]:
    """Rows of a CSV or TSV feed with a header row; a broken row fails at its line."""
    reader = csv.reader(utf8_lines(source.stream), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    last = 0
    while True:
        start = last + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise FeedError(reader.line_num, f"is not valid {_kind(delimiter)}: {err}") from None
        last = reader.line_num
        if not fields or fields == [""]:
            continue
        if header is None:
            header = _header(fields, start, source)
            continue
        if len(fields) != len(header):
            yield FeedError(start, f"row has {len(fields)} fields; the header has {len(header)}")
            continue
        yield Row(start, _values(header, fields))
    if header is None:
        raise FeedError(1, f"is empty; a {_kind(delimiter)} feed needs a header row")


def _kind(delimiter: str) -> str:
    return "TSV" if delimiter == "\t" else "CSV"


def _header(fields: list[str], line: int, source: Source) -> list[str]:
    names = [f.strip() for f in fields]
    seen: set[str] = set()
    for name in names:
        if not name:
            raise FeedError(line, "the header has an empty column name")
        if name in seen and name not in LIST_COLUMNS:
            raise FeedError(line, f"the header names column '{name}' twice")
        seen.add(name)
    source.columns = tuple(dict.fromkeys(names))
    return names


def _values(header: list[str], fields: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in zip(header, fields, strict=True):
        if name in LIST_COLUMNS:
            values.setdefault(name, []).extend(split_list(field))
        else:
            values[name] = field
    return values


# Shopify's export: the product's own columns are filled only on its first row; later rows
# with the same Handle add a variant and/or an image.
_VARIANT_PREFIXES = ("Variant ", "Option1 ", "Option2 ", "Option3 ")


def read_shopify(source: Source) -> Iterator[Item]:
    """One row per product of a Shopify product export, grouped by Handle.

    The row holds the first line's columns (Handle, Title, Body (HTML), Vendor, Type, Tags,
    ...) plus `body_text` (the body without HTML), `images` (every Image Src and Variant
    Image, in order, once each) and `variants` (one mapping per variant line).
    """
    current: Row | None = None
    done: dict[str, int] = {}
    for row in read_csv(source):
        if isinstance(row, FeedError):
            yield row
            continue
        if current is None and "Handle" not in row.values:
            raise FeedError(1, "is not a Shopify product export: there is no 'Handle' column")
        handle = str(row.values.get("Handle", "")).strip()
        if not handle:
            yield FeedError(row.line, "column 'Handle' is empty")
            continue
        if current is not None and handle == current.values["Handle"]:
            _add_line(current, row.values)
            continue
        if handle in done:
            yield FeedError(row.line, f"Handle '{handle}' appears again after other products "
                            f"(first at line {done[handle]}); Shopify groups a product's lines")
            continue
        if current is not None:
            yield current
        current = _start(row)
        done[handle] = row.line
    if current is not None:
        yield current


def _start(row: Row) -> Row:
    values = dict(row.values)
    values["Handle"] = values["Handle"].strip()
    values["body_text"] = _text(values.get("Body (HTML)", ""))
    values["images"] = []
    values["variants"] = []
    out = Row(row.line, values)
    _add_line(out, row.values)
    return out


def _add_line(product: Row, line: dict[str, Any]) -> None:
    images: list[str] = product.values["images"]
    for column in ("Image Src", "Variant Image"):
        url = str(line.get(column, "")).strip()
        if url and url not in images:
            images.append(url)
    variant = {k: v for k, v in line.items() if k.startswith(_VARIANT_PREFIXES)}
    if any(variant.values()):
        product.values["variants"].append(variant)


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _text(markup: str) -> str:
    """A product body without its HTML: the words, single-spaced."""
    if "<" not in markup and "&" not in markup:
        return " ".join(markup.split())
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return " ".join(" ".join(parser.parts).split())
