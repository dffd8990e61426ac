"""`apply --download DIR`: fetch finished videos and covers, resumably, verified by size.

Files go to DIR/KEY.EXT (a variant's video to DIR/PRODUCT/VARIANT.EXT). A partial file is
kept as `.part` and continued with an HTTP Range request; a file recorded in the state with
its size, and still that size on disk, is skipped without a request. The API key is never
sent to the file host, nor anything else jogg-flow did not put there (`jogg_flow.net`: no
~/.netrc password, no redirect followed); each file has a size cap and a deadline cut at
the socket, and a partial answer that does not start where it was asked is refused.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..net import NetError, get
from ..state import Store
from ..state.status import Status
from ..text import web_url
from .events import Emit

_DEFAULT_EXT = {"video": ".mp4", "cover": ".png"}
_CHUNK = 1 << 16
# A state is a file anyone may edit: a key becomes a path only when each part is a plain name.
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_EXT = re.compile(r"\.[A-Za-z0-9]{1,8}")
# Per file: JoggAI's videos are short clips of tens of MB; a file host answering without end
# must not fill the disk or hold the run.
MAX_BYTES = {"video": 2 * 2**30, "cover": 64 * 2**20}
DEADLINE = 1800.0  # seconds per file, head and body
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

# A file JoggAI names may sit behind a CDN that redirects: followed on to https only (a
# download carries no credential), never to plain http.
_REDIRECTS = 5


class DownloadError(Exception):
    """A file that could not be fetched or did not arrive whole."""


def download_all(state: Store, keys: list[str], directory: str, emit: Emit, timeout: float = 60.0,
                 deadline: float = DEADLINE, max_bytes: dict[str, int] | None = None) -> int:
    """Fetch every finished video and cover among `keys`; return how many failed.
    `timeout`: seconds between two reads; `deadline`: seconds per file; `max_bytes`: the
    size cap per kind ("video", "cover")."""
    caps = {**MAX_BYTES, **(max_bytes or {})}
    failed = 0
    for key in keys:
        record = state.get(key)
        if not record or record.get("status") != Status.SUCCEEDED:
            continue
        outputs = record.get("outputs")
        outputs = outputs if isinstance(outputs, dict) else {}
        if not isinstance(record.get("downloads"), dict):
            record["downloads"] = {}
        done = record["downloads"]
        for kind in ("video", "cover"):
            url = outputs.get(f"{kind}_url")
            if not url:
                continue
            dest = ""
            try:
                dest = _destination(directory, key, kind, url)
                status, size = _fetch_once(url, dest, done.get(kind), _Limits(timeout, deadline, caps[kind]))
            except (DownloadError, OSError) as err:
                failed += 1
                # One plain line: an OSError's text is the library's ("[Errno 13] ...: 'x.part'").
                said = str(err) if isinstance(err, DownloadError) else \
                    f"cannot write {dest or directory}: {err.strerror or type(err).__name__}"
                emit({"event": "download", "key": key, "file": dest, "bytes": 0,
                      "status": Status.FAILED, "message": said})
                continue
            if status != "skipped":
                done[kind] = {"file": os.path.relpath(dest, directory), "bytes": size}
                state.put(key, record)
            emit({"event": "download", "key": key, "file": dest, "bytes": size, "status": status})
    return failed


def _destination(directory: str, key: str, kind: str, url: Any) -> str:
    """DIR/KEY.EXT, confined to DIR whatever the state says (a tampered key, a planted link)."""
    if not isinstance(url, str):
        raise DownloadError(f"the state's {kind}_url is a {type(url).__name__}, not a URL; "
                            "`jogg-flow state rm` the video to make it anew")
    if not web_url(url):  # a state anyone may edit, or one written before answers were checked
        raise DownloadError(f"the state's {kind}_url is not a plain http(s) URL; refused")
    parts = key.split("/") if isinstance(key, str) else []
    if not parts or len(parts) > 2 or not all(_PART.fullmatch(p) for p in parts):
        raise DownloadError(f"refusing to write {key!r}: not a video key that names a file in "
                            f"{directory}")
    ext = posixpath.splitext(urlsplit(url).path)[1]
    ext = ext if _EXT.fullmatch(ext) else _DEFAULT_EXT[kind]
    parts[-1] += ("" if kind == "video" else ".cover") + ext
    dest = os.path.join(directory, *parts)
    root = os.path.realpath(directory)
    # A directory inside DIR that is a symlink to elsewhere would carry the file out of DIR.
    if os.path.commonpath([root, os.path.realpath(os.path.dirname(dest))]) != root:
        raise DownloadError(f"refusing to write {dest}: it leads outside {directory}")
    return dest


class _Limits(NamedTuple):
    timeout: float  # seconds between two reads
    deadline: float  # seconds for the file
    max_bytes: int  # the file's size cap


def _fetch_once(url: str, dest: str, known: Any, limits: _Limits) -> tuple[str, int]:
    if (isinstance(known, dict) and isinstance(known.get("bytes"), int) and not os.path.islink(dest)
            and os.path.exists(dest) and os.path.getsize(dest) == known["bytes"]):
        return "skipped", int(known["bytes"])
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    part = dest + ".part"
    have = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    where = urlsplit(url).path  # never the query: it may be a signed link's secret
    try:
        with get(url, headers=headers, deadline=limits.deadline, max_bytes=limits.max_bytes,
                 timeout=(10.0, limits.timeout), follow=_REDIRECTS) as answer:
            if answer.status == 206:
                mode, total = "ab", _range(answer.headers.get("Content-Range"), have, part)
                answer.max_bytes = limits.max_bytes - have
            elif answer.status == 200:
                mode, have = "wb", 0
                length = answer.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
            else:
                raise DownloadError(f"HTTP {answer.status} for {where}")
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "ab" else os.O_TRUNC)
            flags |= getattr(os, "O_NOFOLLOW", 0)  # Windows has none
            with os.fdopen(os.open(part, flags, 0o644), "wb") as fh:  # never through a planted link
                for chunk in answer.chunks():
                    fh.write(chunk)
    except NetError as err:
        raise DownloadError(f"{where}: {err}") from None
    size = os.path.getsize(part)
    if total is not None and size != total:
        raise DownloadError(f"got {size} of {total} bytes; the next run continues it")
    os.replace(part, dest)
    return ("resumed" if mode == "ab" else "downloaded"), size


def _range(header: str | None, asked: int, part: str) -> int | None:
    """The file's total size from a 206's Content-Range ("bytes 100-199/200"), which must
    start at the byte asked for: appended anywhere else, the file would be recorded whole
    and wrong, and never fetched again."""
    found = _RANGE.fullmatch((header or "").strip())
    if found is None or int(found.group(1)) != asked:
        os.unlink(part)  # the next run asks for the whole file
        raise DownloadError(f"the file host answered the range {(header or '(none)')[:80]!r} to a request "
                            f"from byte {asked}; refused, the next run fetches the file whole")
    return int(found.group(3)) if found.group(3).isdigit() else None
