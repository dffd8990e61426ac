"""`jogg-flow init --from FEED`: a starter manifest whose product template maps the feed's
columns it recognises (key, url, title, description, images, type, availability)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

from ..errors import ManifestError, UsageError
from ..feeds import FeedError, FetchError, Row, format_of, open_feed, read
from ..feeds.files import Outside, inside, open_inside
from ..manifest import loader, schema

# For each template field, the column names that mean it, most specific first.
# Matched case-insensitively: `productUrl` is `producturl` (JSON exports' camel case).
_KEY = ("handle", "id", "sku", "slug", "product_id", "productid", "item_group_id")
_URL = ("link", "url", "product_url", "producturl", "product_link", "productlink", "page",
        "page_url", "permalink")
_TITLE = ("title", "name", "product_name", "productname")
_TEXT = ("body_text", "description", "summary", "short_description")
_IMAGES = ("images", "pictures", "photos", "additional_image_link", "image_link", "image",
           "image_url", "imageurl", "image src")
_TAGS = ("product_type", "type", "category", "google_product_category", "tags")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A column name the manifest may quote: words, spaces and a little punctuation (Shopify's
# "Body (HTML)", "Price / International"). Anything else (quotes, braces, #, line breaks,
# control characters) is the feed's text trying to be manifest text: left out.
_PLAIN = re.compile(r"\w[\w .,()/:+&-]{0,79}")
_CHANGE_ME = "{{ row.CHANGE_ME }}"
_VARS = {"brand": "Acme"}
_DEFAULTS = {"render": {"aspect_ratio": "9:16", "lang": "english", "render_subtitle": True,
                        "avatar_id": 37}}
_COMMENTS = {"tags": "split on commas"}

_HEAD = """\
# yaml-language-server: $schema=jogg-flow.schema.json
# Written by: jogg-flow init --from {feed}
# One video per row of the feed. Check the mapping below, then:
#   jogg-flow validate {name}
#   jogg-flow apply {name} --sandbox
version: 1
api:
  version: v1                   # as `jogg-flow init` starts: v1 | v2 | open
vars:
  brand: Acme{shop_var}
defaults:
  render:
    aspect_ratio: "9:16"        # 9:16 | 16:9 | 1:1
    lang: english
    render_subtitle: true
    avatar_id: 37               # an avatar id from your JoggAI dashboard
products_from:
  - file: {file}{format}{where}
    product:                    # values see the feed row as {{{{ row.COLUMN }}}}
"""


def write_from_feed(path: str, feed: str, force: bool = False) -> str:
    """Write a manifest driven by `feed` to `path`; refuse to overwrite unless `force`.

    The feed is someone else's text: its column names reach the manifest only when they
    are plain (`_PLAIN`), every value is a quoted scalar, and what was written is parsed
    back and must say exactly the mapping meant, or nothing is written."""
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists; use --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(path))
    # The manifest will read the feed only inside its own folder tree (feeds.files).
    name = os.path.relpath(os.path.abspath(feed), folder)
    fmt, row, columns = _sample(feed, folder, name)
    text = starter_text(path, feed, fmt, row, columns)
    _write_checked(path, text, _meant(name, fmt, row, columns))
    return path


def _write_checked(path: str, text: str, meant: dict[str, Any]) -> None:
    """Write `text` beside `path`, read it back as a manifest, and put it in place only
    when it holds exactly `meant` and passes the manifest's schema."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as err:
            raise UsageError(f"cannot write {path}: {err.strerror}") from None
        try:
            data = loader.load(tmp).data
        except ManifestError:
            data = None
        if data != meant or any(True for _ in schema.check(data)):
            raise UsageError(f"{path}: not written: the manifest made from the feed does not read "
                             "back as the mapping meant (a column name YAML reads differently?)")
        try:
            os.replace(tmp, path)
        except OSError as err:
            raise UsageError(f"cannot write {path}: {err.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _sample(feed: str, folder: str, name: str) -> tuple[str, Row, tuple[str, ...]]:
    fmt = format_of(feed, None)
    if fmt is None:
        raise UsageError(f"{feed}: cannot tell the format from the name (.csv, .tsv, .json, .jsonl, .xml)")
    try:
        inside(folder, name)
    except Outside:
        raise UsageError(f"{feed}: is outside the new manifest's folder, and a manifest reads "
                         "feeds only inside its own folder tree; write the manifest beside the "
                         "feed or in a folder above it") from None
    except FetchError as err:
        raise UsageError(str(err)) from None
    if fmt == "csv" and _is_shopify(feed, folder, name):
        fmt = "shopify"
    try:
        source, stream = open_feed(feed, (folder, name), None)
        for item in read(source, fmt, stream):
            if isinstance(item, Row):
                return fmt, item, source.columns or tuple(item.values)
            raise FeedError(item.line, item.message)
    except FeedError as err:
        raise UsageError(f"{feed}:{err.line}: {err}") from None
    except FetchError as err:
        raise UsageError(str(err)) from None
    raise UsageError(f"{feed}: has no rows to learn the columns from")


def _is_shopify(feed: str, folder: str, name: str) -> bool:
    try:  # opened as the manifest will open it: a pipe or a device is refused, not waited on
        with open_inside(folder, name, feed) as fh:
            header = fh.readline(65536).decode("utf-8-sig", "replace")
    except (OSError, FetchError):
        return False
    return header.startswith("Handle,") and "Body (HTML)" in header


def starter_text(path: str, feed: str, fmt: str, row: Row, columns: tuple[str, ...]) -> str:
    """The manifest text for a feed with these columns (and this first row)."""
    name = os.path.relpath(os.path.abspath(feed), os.path.dirname(os.path.abspath(path)))
    spec, used, left_out = _spec(name, fmt, row, columns)
    shopify = fmt == "shopify"
    head = _HEAD.format(
        feed=_comment(feed), name=_comment(os.path.basename(path)),
        file=_q(spec["file"]),
        shop_var="\n  shop_domain: shop.example.com   # your shop's domain" if shopify else "",
        format="\n    format: shopify" if shopify else "",
        where=f"\n    where: {_q(spec['where'])}" if "where" in spec else "")
    lines = []
    for field, value in spec["product"].items():
        if isinstance(value, dict):
            lines.append(f"      {field}:")
            lines += [f"        {k}: {_q(v)}" for k, v in value.items()]
        else:
            note = f"        # {_COMMENTS[field]}" if field in _COMMENTS else ""
            lines.append(f"      {field}: {_q(value)}{note}")
    unknown = [c for c in _names(row, columns)[0] if c not in used]
    tail = f"# other columns: {', '.join(unknown)}\n" if unknown else ""
    if left_out:
        tail += (f"# {left_out} column{'s' if left_out > 1 else ''} left out: a name that is not plain "
                 "text (quotes, braces, #, line breaks)\n")
    return head + "\n".join(lines) + "\n" + tail


def _meant(name: str, fmt: str, row: Row, columns: tuple[str, ...]) -> dict[str, Any]:
    """The manifest `starter_text` writes, as data: what it must read back as."""
    variables = dict(_VARS)
    if fmt == "shopify":
        variables["shop_domain"] = "shop.example.com"
    return {"version": 1, "api": {"version": "v1"}, "vars": variables, "defaults": _DEFAULTS,
            "products_from": [_spec(name, fmt, row, columns)[0]]}


def _spec(name: str, fmt: str, row: Row, columns: tuple[str, ...],
          ) -> tuple[dict[str, Any], set[str], int]:
    """The `products_from` entry for the feed, the columns it maps, and how many columns
    were left out."""
    names, left_out = _names(row, columns)
    pick = _picker(names)
    key, url, tags = pick(_KEY), pick(_URL), pick(_TAGS)
    availability = pick(("availability",))
    product: dict[str, Any] = {"key": _ref(key, " | lower") if key else _CHANGE_ME}
    if fmt == "shopify":
        product["url"] = "https://{{ vars.shop_domain }}/products/{{ row.Handle }}"
    else:
        product["url"] = _ref(url) if url else _CHANGE_ME
    if tags:
        product["tags"] = _ref(tags)
    found = {"title": pick(_TITLE), "intro_text": pick(_TEXT), "intro_medias": pick(_IMAGES)}
    details = {field: _ref(column) for field, column in found.items() if column}
    if details:
        product["details"] = details
    spec: dict[str, Any] = {"file": name.replace(os.sep, "/")}
    if fmt == "shopify":
        spec["format"] = "shopify"
    conditions = []
    if availability:
        conditions.append(_ref(availability).strip("{} ") + " == 'in stock'")
    if fmt == "shopify":  # an export holds drafts, archived and unpublished products too
        status, published = pick(("status",)), pick(("published",))
        if status:
            conditions.append(_ref(status, " | lower").strip("{} ") + " in ('', 'active')")
        if published:
            conditions.append(_ref(published, " | lower").strip("{} ") + " != 'false'")
    if conditions:
        spec["where"] = " and ".join(conditions)
    spec["product"] = product
    used = {c for c in (key, url, tags, availability, *found.values()) if c}
    if fmt == "shopify":
        used |= {c for c in (pick(("status",)), pick(("published",))) if c}
    return spec, used, left_out


def _names(row: Row, columns: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
    """The feed's plain column names, and how many others it has."""
    every = tuple(dict.fromkeys((*columns, *row.values)))
    plain = tuple(n for n in every if _PLAIN.fullmatch(n) and n.isprintable() and n == n.strip())
    return plain, len(every) - len(plain)


def _picker(names: tuple[str, ...]) -> Callable[[tuple[str, ...]], str | None]:
    lowered = {n.lower(): n for n in reversed(names)}

    def pick(choices: tuple[str, ...]) -> str | None:
        return next((lowered[c] for c in choices if c in lowered), None)
    return pick


def _ref(column: str, filters: str = "") -> str:
    access = f"row.{column}" if _NAME.fullmatch(column) else f"row[{column!r}]"
    return "{{ " + access + filters + " }}"


def _q(text: str) -> str:
    """A double-quoted scalar: JSON's ASCII escapes, which YAML reads the same."""
    return json.dumps(text, ensure_ascii=True)


def _comment(text: str) -> str:
    """`text` fit for a comment line: no line breaks or other control characters."""
    return "".join(c if c.isprintable() else "?" for c in text)
