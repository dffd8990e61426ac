"""Feed rows into videos, through the manifest's own path: the same merge, templating,
normalisation and checks as hand-written products, with errors placed on the feed's lines
or on the template field's manifest line (naming the row)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import Problem
from ..feeds import FeedError, FetchError, Row, format_of, open_feed, read
from . import loader, schema
from .model import Video
from .templating import ExplainedMapping, TemplateError, Templater, is_template, url_context

Path = tuple[Any, ...]


class ProductBuilder(Protocol):
    """What feed rows need of the manifest's builder: its document, the problems it
    collects, its templater, and its product path (`manifest.build.Builder` is one)."""

    doc: loader.Document
    problems: list[Problem]
    templater: Templater
    secret: str | None
    offline: bool
    feeds: list[Any]

    def fail(self, path: Path, message: str, at_key: bool = False) -> None: ...

    def recheck(self, out: str, source: str, path: Path) -> None: ...

    def product(self, i: int, product: dict[str, Any], defaults: dict[str, Any],
                base: Path | None = None, row: Mapping[str, Any] | None = None) -> list[Video]: ...
# `{{ row.NAME }}` or `{{ row['NAME'] }}`: a template that is just one column.
_COLUMN = re.compile(r"\{\{-?\s*row\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(['\"])(.+?)\2\s*\])\s*-?\}\}")
_NOT_TAG = re.compile(r"[^A-Za-z0-9._-]+")
_FALSE = {"", "false", "0", "none", "no"}
_EXTRA = {"shopify": ("body_text", "images", "variants")}
# What a row's failed key or url stands in for while the rest of it is checked.
_STAND_IN_KEY = "row"
_STAND_IN_URL = "https://row.invalid/"


@dataclass(frozen=True)
class FeedInfo:
    """What one feed gave: its name in messages, format, products and content hash."""

    source: str
    format: str
    products: int
    digest: str | None
    note: str = ""  # why it was not read (validate --offline)


class RowView(ExplainedMapping):
    """`row` as templates see it: a missing column names the columns the feed has."""

    def __init__(self, row: Row, feed: str, columns: tuple[str, ...] | None) -> None:
        super().__init__(row.values)
        self.feed, self.line, self.columns = feed, row.line, columns

    def missing(self, name: str) -> str:
        """'column 'handle' is not in catalog.csv (did you mean 'Handle'?; columns: ...)'."""
        if self.columns is not None:
            known, what = self.columns, f"column '{name}' is not in {self.feed}"
        else:  # JSON and XML items may differ: the fields of this item (the row is named after)
            known, what = tuple(self), f"field '{name}' is not in the item"
        same = [k for k in known if k.lower() == name.lower()]
        close = same or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?; " if close else ""
        shown = ", ".join(known[:25]) + (", …" if len(known) > 25 else "")
        return f"{what} ({hint}{'columns' if self.columns is not None else 'fields'}: {shown})"


def feed_videos(build: ProductBuilder, specs: Any, defaults: dict[str, Any],
                seen: dict[str, int]) -> list[Video]:
    """The videos of every feed under `products_from`, in feed order."""
    keys: dict[str, str] = {}
    out: list[Video] = []
    for f, spec in enumerate(specs if isinstance(specs, list) else []):
        if isinstance(spec, dict) and isinstance(spec.get("product"), dict):
            out.extend(_Feed(build, f, spec, defaults, seen, keys).videos())
    return out


class _Feed:
    def __init__(self, build: ProductBuilder, index: int, spec: dict[str, Any], defaults: dict[str, Any],
                 seen: dict[str, int], keys: dict[str, str]) -> None:
        self.build, self.index, self.spec, self.defaults = build, index, spec, defaults
        self.seen, self.keys = seen, keys
        self.base: Path = ("products_from", index)
        self.template: dict[str, Any] = spec["product"]
        self.url = spec.get("url") if isinstance(spec.get("url"), str) else None
        file = spec.get("file") if isinstance(spec.get("file"), str) else None
        folder = os.path.dirname(os.path.abspath(build.doc.file))
        # Read only inside the manifest's folder tree (feeds.files); named as the user wrote it.
        self.file = (folder, file) if file else None
        self.path = os.path.join(os.path.dirname(build.doc.file), file) if file else None
        self.name = self.url or self.path or ""
        self.repeats: dict[Problem, list[int]] = {}

    def videos(self) -> list[Video]:
        fmt = format_of(self.url or self.path or "", self.spec.get("format"))
        where = self.base + ("url" if self.url else "file",)
        if fmt is None:
            self.build.fail(where, "cannot tell the feed's format from its name; set format: "
                            "csv, tsv, merchant-tsv, shopify, json, jsonl or merchant-xml")
            return []
        if self.url and self.build.offline:
            self.build.feeds.append(FeedInfo(self.url, fmt, 0, None, "not fetched (--offline); "
                                             "its products were not checked"))
            return []
        try:
            source, stream = open_feed(self.name, self.file, self.url)
        except FetchError as err:
            self.build.fail(where, str(err))
            return []
        out: list[Video] = []
        try:
            for item in read(source, fmt, stream):
                if isinstance(item, FeedError):
                    self._at(item)
                    continue
                columns = source.columns + _EXTRA.get(fmt, ()) if source.columns is not None else None
                out.extend(self._row(RowView(item, self.name, columns)))
        except FeedError as err:
            self._at(err)
        self._count_repeats()
        self.build.feeds.append(FeedInfo(self.name, fmt, len({v.product for v in out}), stream.digest))
        return out

    def _at(self, err: FeedError) -> None:
        self.build.problems.append(Problem(self.name, err.line, err.col, err.message))

    def _row(self, row: RowView) -> list[Video]:
        before = len(self.build.problems)
        try:
            return self._product(row)
        finally:
            self._name_row(before, row.line)

    def _product(self, row: RowView) -> list[Video]:
        ctx = {"row": row}
        before = len(self.build.problems)
        wanted = self._wanted(ctx)
        if not wanted and len(self.build.problems) == before:
            return []
        key = self._required("key", ctx, row)
        unique = key is not None and self._unique(key, row.line)
        tags = self._tags(ctx)
        url = self._required("url", {**ctx, **url_context(key or _STAND_IN_KEY, tags)}, row)
        videos = self._make(row, ctx, key or _STAND_IN_KEY, url or _STAND_IN_URL, tags)
        # A row with a failed key, url or where is still rendered through (with stand-ins),
        # so its every mistake is said at once, not just the first; it makes no video.
        return videos if key is not None and url is not None and unique and wanted else []

    def _make(self, row: RowView, ctx: dict[str, Any], key: str, url: str, tags: list[str]) -> list[Video]:
        product: dict[str, Any] = {**self.template, "key": key, "url": url, "tags": tags}
        details = self.template.get("details")
        if isinstance(details, dict) and isinstance(details.get("intro_medias"), str):
            path = self.base + ("product", "details", "intro_medias")
            product["details"] = {**details, "intro_medias": self._medias(details["intro_medias"],
                                                                          path, ctx, row)}
        return self.build.product(-1 - self.index, product, self.defaults,
                                   base=self.base + ("product",), row=row)

    def _wanted(self, ctx: dict[str, Any]) -> bool:
        where = self.spec.get("where")
        if not isinstance(where, str) or not where.strip():
            return True
        source = where if is_template(where) else "{{ (" + where + ") }}"
        out = self._render(source, self.base + ("where",), ctx)
        return out is not None and out.strip().lower() not in _FALSE

    def _required(self, field: str, ctx: dict[str, Any], row: RowView) -> str | None:
        source = self.template.get(field)
        if not isinstance(source, str):
            return None
        path = self.base + ("product", field)
        out = self._render(source, path, ctx)
        if out is None:
            return None
        if not out.strip():
            column = _COLUMN.fullmatch(source.strip())
            noun = "column" if row.columns is not None else "field"
            what = f"{noun} '{column.group(1) or column.group(3)}'" if column else f"{field} ({source!r})"
            self.build.problems.append(Problem(self.name, row.line, 1, f"{what} is empty"))
            return None
        if is_template(out):  # feed data is never rendered again as a template
            self.build.problems.append(Problem(self.name, row.line, 1, f"{field} holds template "
                                               "markup ({{, {% or {#); refused"))
            return None
        before = len(self.build.problems)
        self.build.recheck(out, source, path)
        return out if len(self.build.problems) == before else None

    def _unique(self, key: str, line: int) -> bool:
        first = self.keys.get(key)
        if first is None and key in self.seen:
            at = self.build.doc.problem(("products", self.seen[key], "key"), "")
            first = f"products[{self.seen[key]}] at {at.file}:{at.line}"
        if first is not None:
            self.build.problems.append(Problem(self.name, line, 1, f"duplicate product key '{key}' "
                                               f"(first used by {first})"))
            return False
        self.keys[key] = f"{self.name}:{line}"
        return True

    def _tags(self, ctx: dict[str, Any]) -> list[str]:
        tags = self.template.get("tags")
        sources = [tags] if isinstance(tags, str) else tags if isinstance(tags, list) else []
        out: list[str] = []
        for j, source in enumerate(sources):
            path = self.base + ("product", "tags") + ((j,) if isinstance(tags, list) else ())
            for item in self._list(source, path, ctx, ","):
                tag = _NOT_TAG.sub("-", item).strip("-")
                if tag and tag not in out:
                    out.append(tag)
        return out

    def _medias(self, source: str, path: Path, ctx: dict[str, Any], row: RowView) -> list[str]:
        out: list[str] = []
        for item in self._list(source, path, ctx, r"[,\s]+"):
            if is_template(item):
                self.build.problems.append(Problem(self.name, row.line, 1, "a media URL holds "
                                                   "template markup ({{, {% or {#); refused"))
                continue
            self.build.recheck(item, source, path + (len(out),))
            out.append(item)
        return out

    def _list(self, source: Any, path: Path, ctx: dict[str, Any], sep: str) -> list[str]:
        """A list-valued field from one template: a list column as it is, else the text
        rendered and split (on commas for tags, commas or spaces for URLs)."""
        if not isinstance(source, str):
            return []
        if not is_template(source):
            return [source]
        column = _COLUMN.fullmatch(source.strip())
        if column:
            value = ctx["row"].get(column.group(1) or column.group(3))
            if isinstance(value, list):
                return [str(v).strip() for v in value if str(v).strip()]
        out = self._render(source, path, ctx)
        return [] if out is None else [p.strip() for p in re.split(sep, out) if p.strip()]

    def _render(self, source: str, path: Path, ctx: dict[str, Any]) -> str | None:
        if not is_template(source):
            return source
        try:
            out = self.build.templater.render(source, ctx)
        except TemplateError as err:
            self.build.fail(path, str(err))
            return None
        secret = self.build.secret
        if secret and secret.lower() in out.lower():
            self.build.fail(path, schema.SECRET_HINT)
            return None
        return out

    def _name_row(self, before: int, line: int) -> None:
        """Name the row in problems placed on the manifest; the same problem on many rows
        is said once, with a count. A missing column is the feed's, not the row's."""
        problems = self.build.problems
        if len(problems) == before:
            return
        kept: list[Problem] = []
        for problem in problems[before:]:
            if problem.file == self.name or self.name in problem.message:
                kept.append(problem)
            elif problem in self.repeats:
                if self.repeats[problem][-1] != line:  # once per row, not per variant
                    self.repeats[problem].append(line)
            else:
                self.repeats[problem] = [line]
                kept.append(problem)
        del problems[before:]
        problems.extend(kept)

    def _count_repeats(self) -> None:
        problems = self.build.problems
        for i, problem in enumerate(problems):
            lines = self.repeats.get(problem)
            if lines is None:
                continue
            more = f"; and {len(lines) - 1} more row{'s' if len(lines) > 2 else ''}" if len(lines) > 1 else ""
            problems[i] = Problem(problem.file, problem.line, problem.col,
                                  f"{problem.message} (row {self.name}:{lines[0]}{more})")
        self.repeats.clear()
