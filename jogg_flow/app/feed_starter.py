"""`jogg-flow init --from FEED`: a starter manifest whose product template maps the feed's
columns it recognises (key, url, title, description, images, type, availability)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable

from ..errors import UsageError
from ..feeds import FeedError, FetchError, Row, format_of, open_feed, read
from ..feeds.files import Outside, inside

# For each template field, the column names that mean it, most specific first.
_KEY = ("handle", "id", "sku", "slug", "product_id", "item_group_id")
_URL = ("link", "url", "product_url", "product_link", "permalink")
_TITLE = ("title", "name", "product_name")
_TEXT = ("body_text", "description", "summary", "short_description")
_IMAGES = ("images", "additional_image_link", "image_link", "image", "image_url", "image src")
_TAGS = ("product_type", "type", "category", "google_product_category", "tags")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_HEAD = """\
# yaml-language-server: $schema=jogg-flow.schema.json
# Written by: jogg-flow init --from {feed}
# One video per row of the feed. Check the mapping below, then:
#   jogg-flow validate {name}
#   jogg-flow apply {name} --sandbox
version: 1
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
    """Write a manifest driven by `feed` to `path`; refuse to overwrite unless `force`."""
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists; use --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(path))
    # The manifest will read the feed only inside its own folder tree (feeds.files).
    name = os.path.relpath(os.path.abspath(feed), folder)
    fmt, row, columns = _sample(feed, folder, name)
    text = starter_text(path, feed, fmt, row, columns)
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from None
    return path


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
    if fmt == "csv" and _is_shopify(feed):
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


def _is_shopify(feed: str) -> bool:
    try:
        with open(feed, encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline()
    except OSError:
        return False
    return header.startswith("Handle,") and "Body (HTML)" in header


def starter_text(path: str, feed: str, fmt: str, row: Row, columns: tuple[str, ...]) -> str:
    """The manifest text for a feed with these columns (and this first row)."""
    names = tuple(dict.fromkeys((*columns, *row.values)))
    pick = _picker(names)
    shopify = fmt == "shopify"
    key, url = pick(_KEY), pick(_URL)
    availability = pick(("availability",))
    lines = [f"      key: {_q(_ref(key, ' | lower') if key else '{{ row.CHANGE_ME }}')}"]
    if shopify:
        lines.append('      url: "https://{{ vars.shop_domain }}/products/{{ row.Handle }}"')
    else:
        lines.append(f"      url: {_q(_ref(url) if url else '{{ row.CHANGE_ME }}')}")
    tags = pick(_TAGS)
    if tags:
        lines.append(f"      tags: {_q(_ref(tags))}        # split on commas")
    details = []
    for field, choices in (("title", _TITLE), ("intro_text", _TEXT)):
        found = pick(choices)
        if found:
            details.append(f"        {field}: {_q(_ref(found))}")
    images = pick(_IMAGES)
    if images:
        details.append(f"        intro_medias: {_q(_ref(images))}")
    if details:
        lines += ["      details:", *details]
    head = _HEAD.format(
        feed=feed, name=os.path.basename(path),
        file=_q(os.path.relpath(feed, os.path.dirname(os.path.abspath(path)))),
        shop_var="\n  shop_domain: shop.example.com   # your shop's domain" if shopify else "",
        format="\n    format: shopify" if shopify else "",
        where=f"\n    where: row.{availability} == 'in stock'" if availability else "")
    unknown = [c for c in names if c not in {key, url, tags, images, availability, pick(_TITLE),
                                              pick(_TEXT)}]
    tail = f"# other columns: {', '.join(unknown)}\n" if unknown else ""
    return head + "\n".join(lines) + "\n" + tail


def _picker(names: tuple[str, ...]) -> Callable[[tuple[str, ...]], str | None]:
    lowered = {n.lower(): n for n in reversed(names)}

    def pick(choices: tuple[str, ...]) -> str | None:
        return next((lowered[c] for c in choices if c in lowered), None)
    return pick


def _ref(column: str, filters: str = "") -> str:
    access = f"row.{column}" if _NAME.fullmatch(column) else f"row[{column!r}]"
    return "{{ " + access + filters + " }}"


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
