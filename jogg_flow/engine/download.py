"""`apply --download DIR`: fetch finished videos and covers, resumably, verified by size.

Files go to DIR/KEY.EXT (a variant's video to DIR/PRODUCT/VARIANT.EXT). A partial file is
kept as `.part` and continued with an HTTP Range request; a file recorded in the state with
its size, and still that size on disk, is skipped without a request. The API key is never
sent to the file host.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any
from urllib.parse import urlsplit

import requests

from ..state import Store
from ..state.status import Status
from .events import Emit

_DEFAULT_EXT = {"video": ".mp4", "cover": ".png"}
_CHUNK = 1 << 16
# A state is a file anyone may edit: a key becomes a path only when each part is a plain name.
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_EXT = re.compile(r"\.[A-Za-z0-9]{1,8}")


class DownloadError(Exception):
    """A file that could not be fetched or did not arrive whole."""


def download_all(state: Store, keys: list[str], directory: str, emit: Emit,
                 session: requests.Session | None = None, timeout: float = 60.0) -> int:
    """Fetch every finished video and cover among `keys`; return how many failed."""
    session = session or requests.Session()
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
                status, size = _fetch_once(session, url, dest, done.get(kind), timeout)
            except (DownloadError, requests.RequestException, OSError) as err:
                failed += 1
                emit({"event": "download", "key": key, "file": dest, "bytes": 0,
                      "status": Status.FAILED, "message": str(err)})
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


def _fetch_once(session: requests.Session, url: str, dest: str, known: Any,
                timeout: float) -> tuple[str, int]:
    if (isinstance(known, dict) and isinstance(known.get("bytes"), int) and not os.path.islink(dest)
            and os.path.exists(dest) and os.path.getsize(dest) == known["bytes"]):
        return "skipped", int(known["bytes"])
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    part = dest + ".part"
    have = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, headers=headers, stream=True, timeout=timeout) as resp:
        if resp.status_code == 206:
            mode, total = "ab", _range_total(resp.headers.get("Content-Range"))
        elif resp.status_code == 200:
            mode, have = "wb", 0
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise DownloadError(f"HTTP {resp.status_code} for {urlsplit(url).path}")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "ab" else os.O_TRUNC)
        flags |= getattr(os, "O_NOFOLLOW", 0)  # Windows has none
        with os.fdopen(os.open(part, flags, 0o644), "wb") as fh:  # never through a planted link
            for chunk in resp.iter_content(_CHUNK):
                fh.write(chunk)
    size = os.path.getsize(part)
    if total is not None and size != total:
        raise DownloadError(f"got {size} of {total} bytes; the next run continues it")
    os.replace(part, dest)
    return ("resumed" if mode == "ab" else "downloaded"), size


def _range_total(header: str | None) -> int | None:
    # "bytes 100-199/200" -> 200
    if not header or "/" not in header:
        return None
    total = header.rsplit("/", 1)[1]
    return int(total) if total.isdigit() else None
