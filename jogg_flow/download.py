"""`apply --download DIR`: fetch finished videos and covers, resumably, verified by size.

Files go to DIR/KEY.EXT (a variant's video to DIR/PRODUCT/VARIANT.EXT). A partial file is
kept as `.part` and continued with an HTTP Range request; a file recorded in the state with
its size, and still that size on disk, is skipped without a request. The API key is never
sent to the file host.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from .state import Store

Emit = Callable[[dict[str, Any]], None]
_DEFAULT_EXT = {"video": ".mp4", "cover": ".png"}
_CHUNK = 1 << 16


class DownloadError(Exception):
    """A file that could not be fetched or did not arrive whole."""


def download_all(state: Store, keys: list[str], directory: str, emit: Emit,
                 session: requests.Session | None = None, timeout: float = 60.0) -> int:
    """Fetch every finished video and cover among `keys`; return how many failed."""
    session = session or requests.Session()
    failed = 0
    for key in keys:
        record = state.get(key)
        if not record or record.get("status") != "succeeded":
            continue
        outputs = record.get("outputs") or {}
        done = record.setdefault("downloads", {})
        for kind, url in (("video", outputs.get("video_url")), ("cover", outputs.get("cover_url"))):
            if not url:
                continue
            dest = _destination(directory, key, kind, url)
            try:
                status, size = _fetch_once(session, url, dest, done.get(kind), timeout)
            except (DownloadError, requests.RequestException, OSError) as err:
                failed += 1
                emit({"event": "download", "key": key, "file": dest, "bytes": 0,
                      "status": "failed", "message": str(err)})
                continue
            if status != "skipped":
                done[kind] = {"file": os.path.relpath(dest, directory), "bytes": size}
                state.put(key, record)
            emit({"event": "download", "key": key, "file": dest, "bytes": size, "status": status})
    return failed


def _destination(directory: str, key: str, kind: str, url: str) -> str:
    ext = posixpath.splitext(urlsplit(url).path)[1] or _DEFAULT_EXT[kind]
    name = key + ("" if kind == "video" else ".cover") + ext
    return os.path.join(directory, *name.split("/"))


def _fetch_once(session: requests.Session, url: str, dest: str, known: dict[str, Any] | None,
                timeout: float) -> tuple[str, int]:
    if known and os.path.exists(dest) and os.path.getsize(dest) == known.get("bytes"):
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
        with open(part, mode) as fh:
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
