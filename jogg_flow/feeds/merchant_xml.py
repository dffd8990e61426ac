"""Google Merchant Center feeds in XML: RSS 2.0 `<item>`s or Atom `<entry>`s, `g:` fields.

Parsed with the standard library's expat, fed in chunks so memory stays flat per item.
A document type declaration is refused outright: a product feed never needs one, and it is
where entity bombs and external entities live (expat would otherwise expand internal
entities, and only its own limits stand between a feed and a billion laughs).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn
from xml.parsers import expat

from .base import FeedError, Item, Row, Source, split_list

G = "http://base.google.com/ns/1.0"
ATOM = "http://www.w3.org/2005/Atom"
FIELDS = ("id", "title", "description", "link", "image_link", "additional_image_link",
          "product_type", "availability")
_CHUNK = 64 * 1024
_SEP = "\x1f"  # between a namespace and a local name, as expat reports them


class _Refused(Exception):
    pass


class _Items:
    """expat handlers collecting each item's direct child elements."""

    def __init__(self, parser: Any) -> None:
        self.parser = parser
        self.ready: list[Row] = []
        self.item: dict[str, Any] | None = None
        self.line = 0
        self.depth = 0
        self.field: str | None = None
        self.text: list[str] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        space, _, local = name.rpartition(_SEP)
        if self.item is None:
            if (local == "item" and space in ("", G)) or (local == "entry" and space == ATOM):
                self.item, self.line, self.depth = {}, self.parser.CurrentLineNumber, 0
            return
        self.depth += 1
        if self.depth == 1 and space in ("", G, ATOM):
            self.field, self.text = local, []
            if space == ATOM and local == "link" and attrs.get("href") and \
                    attrs.get("rel", "alternate") == "alternate":
                self.item.setdefault("link", attrs["href"])

    def data(self, text: str) -> None:
        if self.field is not None and self.depth == 1:
            self.text.append(text)

    def end(self, name: str) -> None:
        if self.item is None:
            return
        if self.depth == 0:
            self.ready.append(_row(self.line, self.item))
            self.item = None
            return
        if self.depth == 1 and self.field is not None:
            _put(self.item, self.field, "".join(self.text).strip())
            self.field = None
        self.depth -= 1


def _put(item: dict[str, Any], field: str, value: str) -> None:
    field = {"summary": "description", "content": "description"}.get(field, field)
    if field == "additional_image_link":
        item.setdefault(field, []).extend(split_list(value))
    elif value or field not in item:
        item[field] = value


def _row(line: int, item: dict[str, Any]) -> Row:
    values: dict[str, Any] = {f: "" for f in FIELDS}
    values["additional_image_link"] = []
    values.update(item)
    values["images"] = [u for u in [values["image_link"], *values["additional_image_link"]] if u]
    return Row(line, values)


def _refuse(*_: Any) -> NoReturn:
    raise _Refused("has a document type declaration (<!DOCTYPE ...>); feeds must not declare "
                   "entities, so it is refused")


def read_merchant_xml(source: Source) -> Iterator[Item]:
    """The feed's items, each at the line of its `<item>` or `<entry>` tag."""
    parser = expat.ParserCreate(namespace_separator=_SEP)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    items = _Items(parser)
    parser.StartElementHandler = items.start
    parser.EndElementHandler = items.end
    parser.CharacterDataHandler = items.data
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    seen = False
    while True:
        chunk = source.stream.read(_CHUNK)
        try:
            parser.Parse(chunk, not chunk)
        except _Refused as err:
            raise FeedError(parser.CurrentLineNumber, str(err)) from None
        except expat.ExpatError as err:
            raise FeedError(err.lineno, f"is not valid XML: {expat.ErrorString(err.code)}",
                            col=err.offset + 1) from None
        except ValueError:  # expat reads UTF-8, UTF-16, ISO-8859-1 and ASCII; not UTF-7 and the like
            raise FeedError(1, "declares an encoding the XML reader cannot read (multi-byte "
                            "encodings such as UTF-7 are not supported); save it as UTF-8") from None
        for row in items.ready:
            seen = True
            yield row
        items.ready.clear()
        if not chunk:
            break
    if not seen:
        raise FeedError(1, "has no <item> (RSS 2.0) or <entry> (Atom) elements")
