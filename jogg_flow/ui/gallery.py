"""`outputs --output html`: one self-contained page to look at the videos a manifest made.

A card per video: its cover, a playable `<video>`, key, tags, status, duration and links;
failed and needs-check videos show their reason instead; a strip of its previews (v2), one
player per style. Inline CSS, no scripts, no
external assets. The state is a file anyone may edit: every text is escaped, and only an
http(s) URL or a file found in the media directory becomes a `src` or an `href`.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..manifest.model import Manifest
from ..state import status
from ..state.status import Status
from ..text import web_url
from .report import needs_check_text

_BAD = (Status.FAILED, Status.ERROR)


@dataclass(frozen=True)
class Card:
    """One video as the page shows it."""

    key: str
    status: str
    tags: tuple[str, ...]
    project_id: str
    video: str | None  # a safe src: a relative file path or an http(s) URL
    cover: str | None
    video_link: str | None  # the remote URL, for the "open" link
    duration: str
    reason: str
    credits: str = ""  # what JoggAI deducted for its render, where it said (v2)
    previews: tuple[Preview, ...] = ()  # its previews (v2), one per style


@dataclass(frozen=True)
class Preview:
    """One previewed style of a video, as the card's strip shows it."""

    style: str
    status: str
    video: str | None  # a safe src, as Card.video
    cover: str | None
    chosen: bool  # the style its render was made from


def cards(manifest: Manifest, keys: Sequence[str], records: Mapping[str, dict[str, Any]],
          media_dir: str | None, page_dir: str) -> list[Card]:
    """The cards for `keys`, taking each video's local download when it is there."""
    tags = {v.key: v.tags for v in manifest.videos}
    out = []
    for key in keys:
        record = records.get(key) or {}
        outputs = _dict(record.get("outputs"))
        downloads = _dict(record.get("downloads"))
        # The file the downloads record names, else the name `--download` gives it.
        local = {kind: _local(media_dir, _dict(downloads.get(kind)).get("file"), page_dir)
                 or _local(media_dir, f"{key}{suffix}", page_dir)
                 for kind, suffix in (("video", ".mp4"), ("cover", ".cover.png"))}
        remote_video = safe_url(outputs.get("video_url"))
        previews = _previews(key, record, media_dir, page_dir)
        out.append(Card(
            key=str(key), status=status.of_record(record), tags=tuple(tags.get(key, ())),
            project_id=str(record.get("project_id") or ""),
            video=local["video"] or remote_video, cover=local["cover"] or safe_url(outputs.get("cover_url")),
            video_link=remote_video, duration=_duration(outputs.get("duration")), reason=_reason(record),
            credits=_credits(record.get("credits")), previews=previews))
    return out


def preview_file(key: str, style: str, suffix: str) -> str:
    """The name a preview's kept or downloaded file takes: KEY.preview-STYLE.mp4."""
    slug = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in style.lower())
    return f"{key}.preview-{slug.strip('-.') or 'style'}{suffix}"


def _previews(key: str, record: Mapping[str, Any], media_dir: str | None,
              page_dir: str) -> tuple[Preview, ...]:
    styles = _dict(_dict(record.get("previews")).get("styles"))
    chosen = _dict(record.get("from_preview")).get("style")
    out = []
    for style, entry in styles.items():
        entry = _dict(entry)
        name = str(style)
        out.append(Preview(
            name, str(entry.get("status") or ""),
            _local(media_dir, preview_file(key, name, ".mp4"), page_dir)
            or safe_url(entry.get("video_url")),
            _local(media_dir, preview_file(key, name, ".cover.png"), page_dir)
            or safe_url(entry.get("cover_url")), name == chosen))
    return tuple(out)


def safe_url(url: Any) -> str | None:
    """An http(s) URL with a host, else None (no javascript:, data:, control or bidi
    characters, or anything odd: see `text.web_url`)."""
    return url if web_url(url) else None


def _local(media_dir: str | None, name: Any, page_dir: str) -> str | None:
    """A downloaded file as a path relative to the page, when it is a plain file in the media dir."""
    if not media_dir or not isinstance(name, str) or not name or os.path.isabs(name):
        return None
    if any(part in ("", ".", "..") for part in name.replace("\\", "/").split("/")):
        return None
    path = os.path.join(media_dir, name)
    if not os.path.isfile(path):
        return None
    return quote(os.path.relpath(path, page_dir).replace(os.sep, "/"), safe="/")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _duration(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        seconds = int(round(value))
        return f"{seconds // 60}:{seconds % 60:02d}"
    return ""


def _credits(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return f"{value:g} credit{'' if value == 1 else 's'}"
    return ""


def _reason(record: Mapping[str, Any]) -> str:
    if record.get("status") == Status.NEEDS_CHECK:
        return needs_check_text(record) + "; check the dashboard"
    if record.get("status") in _BAD:
        remote = _dict(record.get("remote"))
        return str(record.get("error") or remote.get("err_msg") or "failed")
    return ""


def page(title: str, items: Sequence[Card]) -> str:
    """The whole HTML document."""
    counts: dict[str, int] = {}
    for card in items:
        counts[card.status] = counts.get(card.status, 0) + 1
    summary = ", ".join(f"{n} {word}" for word, n in counts.items()) or "no videos"
    body = "\n".join(_card(c) for c in items)
    e = html.escape
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{e(title)} · jogg-flow</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f'<header><h1>{e(title)}</h1><p class="summary">{e(summary)}</p></header>\n'
            f'<main class="grid">\n{body}\n</main>\n'
            f"<footer>made by jogg-flow outputs --output html</footer>\n</body>\n</html>\n")


def _card(c: Card) -> str:
    e = html.escape
    if c.video:
        poster = f' poster="{e(c.cover)}"' if c.cover else ""
        media = (f'<video controls preload="metadata" playsinline{poster}>'
                 f'<source src="{e(c.video)}" type="video/mp4"></video>')
    elif c.cover:
        media = f'<img src="{e(c.cover)}" alt="cover of {e(c.key)}">'
    else:
        media = f'<div class="none">{e(c.reason or c.status)}</div>'
    tags = "".join(f'<span class="tag">{e(t)}</span>' for t in c.tags)
    links = []
    if c.video_link:
        links.append(f'<a href="{e(c.video_link)}">video</a>')
    if c.cover:
        links.append(f'<a href="{e(c.cover)}">cover</a>')
    facts = " · ".join(x for x in (c.duration, c.credits, _project(c.project_id)) if x)
    # Without a video or cover the reason already fills the media box.
    reason = f'<p class="reason">{e(c.reason)}</p>' if c.reason and (c.video or c.cover) else ""
    status_class = "ok" if c.status == Status.SUCCEEDED else "bad" if c.status in _BAD else "warn"
    return (f'<article class="card" data-key="{e(c.key)}" data-status="{e(c.status)}">'
            f'<div class="media">{media}</div><div class="body">'
            f'<h2><code>{e(c.key)}</code></h2>'
            f'<p><span class="status {status_class}">{e(c.status)}</span>{tags}</p>'
            f'{reason}<p class="facts">{facts}</p><p class="links">{" ".join(links)}</p>'
            f"{_strip(c.previews)}</div></article>")


def _strip(previews: Sequence[Preview]) -> str:
    """A video's previews side by side, one player per style (the chosen one marked)."""
    if not previews:
        return ""
    e = html.escape
    shown = []
    for p in previews:
        if p.video:
            poster = f' poster="{e(p.cover)}"' if p.cover else ""
            player = (f'<video controls preload="none" playsinline{poster}>'
                      f'<source src="{e(p.video)}" type="video/mp4"></video>')
        else:
            player = f'<div class="none">{e(p.status)}</div>'
        mark = " chosen" if p.chosen else ""
        shown.append(f'<figure class="preview{mark}" data-style="{e(p.style)}">{player}'
                     f"<figcaption>{e(p.style)}{' ✓' if p.chosen else ''}</figcaption></figure>")
    return f'<div class="previews" aria-label="previews">{"".join(shown)}</div>'



def _project(project_id: str) -> str:
    if not project_id:
        return ""
    short = project_id if len(project_id) <= 14 else project_id[:12] + "…"
    return f'project <span title="{html.escape(project_id)}">{html.escape(short)}</span>'


_CSS = """
:root{color-scheme:light;--ink:#1d1b26;--muted:#6b6880;--line:#e6e3ef;--bg:#f6f5fa}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--bg)}
header{padding:28px 32px 12px}
h1{margin:0;font-size:24px}
.summary{margin:4px 0 0;color:var(--muted)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:20px;padding:16px 32px 32px}
.card{background:#fff;border:1px solid var(--line);border-radius:12px;overflow:hidden;
box-shadow:0 1px 3px rgba(30,20,60,.06)}
.media{background:#14121c;height:400px;display:flex;align-items:center;justify-content:center}
.media video,.media img{width:100%;height:100%;object-fit:contain;display:block}
.none{color:#f3b5b5;padding:20px;text-align:center;font-size:14px}
.body{padding:12px 14px 14px}
h2{margin:0 0 6px;font-size:15px;overflow-wrap:anywhere}
code{font:600 14px ui-monospace,SFMono-Regular,Menlo,monospace}
.status{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;
margin-right:6px}
.ok{background:#e3f6e8;color:#1f7a3a}.bad{background:#fde6e6;color:#a32020}.warn{background:#fff1d6;color:#8a5a00}
.tag{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;background:#efecf8;
color:#4b3d8f;margin-right:4px}
p{margin:4px 0}
.reason{color:#a32020;font-size:13px;overflow-wrap:anywhere}
.facts{color:var(--muted);font-size:13px;overflow-wrap:anywhere}
.links a{color:#4b3d8f;margin-right:10px;font-size:13px}
footer{color:var(--muted);font-size:12px;padding:0 32px 24px}
.previews{display:flex;gap:6px;overflow-x:auto;margin-top:8px}
.preview{margin:0;flex:0 0 96px;background:#14121c;border-radius:6px;overflow:hidden}
.preview video{width:96px;height:160px;object-fit:contain;display:block}
.preview .none{height:160px;font-size:12px;display:flex;align-items:center}
.preview figcaption{background:#fff;font-size:11px;padding:2px 4px;overflow-wrap:anywhere}
.preview.chosen{outline:2px solid #1f7a3a}
"""
