"""Local media uploaded once per content: the step between a product's creation and its update.

A video's details name local files by content (`manifest.media_files`: path and SHA-256).
Before the product update, each file whose content has no hosted URL yet is uploaded (the
generation's upload POST, then the bytes PUT to the signed URL) and its hosted URL kept in
the record, under `uploads: {sha256: url}`, as soon as the PUT succeeded; the product then
gets that URL. Any record's URL for a content serves every other video and every later run,
so a second apply, a second product or a variant naming the same file uploads nothing.

Never paying twice holds because an upload costs nothing: a POST whose answer was lost, a
PUT that failed, or a run killed between the two leave no URL in the state, and the file is
simply uploaded afresh. A URL reaches a product only after its PUT succeeded. The signed URL
is never kept or printed; only the hosted URL is.

The counting half (`to_upload`) is pure and loads no HTTP stack, for `plan`.
"""

from __future__ import annotations

import posixpath
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..api.errors import OutcomeUnknown
from ..text import web_url
from .events import Emit

if TYPE_CHECKING:
    from ..api.http import HttpClient
    from ..manifest.model import Video
    from ..state.base import Store

_SHA = re.compile(r"[0-9a-f]{64}\Z")
_ATTEMPTS = 3  # a fresh upload (POST and PUT) per attempt: each is free
_API_FIELDS = ("type", "name", "url", "description")


def local_items(details: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The media items of `details` that name a local file (with its content hash)."""
    medias = details.get("intro_medias")
    return [m for m in medias if isinstance(m, dict) and isinstance(m.get("sha256"), str)] \
        if isinstance(medias, list) else []


def known_uploads(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Content hash -> hosted URL, from every record's `uploads` (a damaged entry is skipped:
    the file is uploaded again)."""
    out: dict[str, str] = {}
    for record in records:
        uploads = record.get("uploads")
        if isinstance(uploads, dict):
            out.update({k: v for k, v in uploads.items() if _SHA.match(str(k)) and web_url(v)})
    return out


def to_upload(videos: Iterable[Video], records: Mapping[str, Mapping[str, Any]]) -> int:
    """How many distinct contents the product updates of `videos` would upload (the videos
    whose update is still to come; a variant sharing its sibling's product needs none)."""
    known = known_uploads(records.values())
    return len({m["sha256"] for v in videos for m in local_items(v.details)} - set(known))


class Uploads:
    """One run's uploads: thread-safe, each content at most once at a time."""

    def __init__(self, client: HttpClient, state: Store, emit: Emit, root: str,
                 check_stop: Callable[[], None]) -> None:
        self.client, self.state, self.emit, self.root = client, state, emit, root
        self.check_stop = check_stop
        self._known: dict[str, str] | None = None
        self._lock = threading.Lock()
        self._each: dict[str, threading.Lock] = {}

    def ready(self, video: Video, record: dict[str, Any]) -> dict[str, Any]:
        """`video.details` as the product update sends them: each local file replaced by its
        hosted URL, uploading the contents that have none yet (recorded in `record`)."""
        if not local_items(video.details):
            return video.details
        medias = []
        for item in video.details["intro_medias"]:
            if isinstance(item, dict) and isinstance(item.get("sha256"), str):
                item = {**item, "url": self._url(video, item, record)}
                item = {k: item[k] for k in _API_FIELDS if k in item}
            medias.append(item)
        return {**video.details, "intro_medias": medias}

    def _url(self, video: Video, item: dict[str, Any], record: dict[str, Any]) -> str:
        key, sha = video.key, str(item["sha256"])
        kept = record.get("uploads")
        own: dict[str, Any] = kept if isinstance(kept, dict) else {}
        if web_url(own.get(sha)):
            return str(own[sha])
        with self._lock:
            if self._known is None:
                self._known = known_uploads(self.state.videos.values())
            each = self._each.setdefault(sha, threading.Lock())
        with each:  # a content another video is uploading: wait for its URL
            url = self._known.get(sha)
            uploaded = url is None
            if url is None:
                url = self._upload(key, video.local_files.get(sha, ""), sha)
        record["uploads"] = {**own, sha: url}
        if uploaded:  # a URL another record holds is saved with the product's update
            self.state.put(key, record)
        return url

    def _upload(self, key: str, name: str, sha: str) -> str:
        from ..api.generations import UPLOADS
        from ..api.upload import UploadFailed, put
        from ..feeds.fetch import FetchError
        from ..manifest.media_files import digest, read_checked

        if not self.root or not name:  # never read relative to wherever the process happens to run
            raise UploadFailed(f"local media {name or sha}: its file or the manifest's folder is unknown")
        try:
            data, kind = read_checked(self.root, name)
        except FetchError as err:
            raise UploadFailed(f"local media {err}") from None
        if digest(data) != sha:
            raise UploadFailed(f"local media {name}: changed since the manifest was read; apply again")
        route = UPLOADS[self.client.version]
        last: Exception | None = None
        for _ in range(_ATTEMPTS):
            self.check_stop()
            self.emit({"event": "step", "key": key, "step": "upload"})
            try:
                signed = self.client.upload_asset(posixpath.basename(name.replace("\\", "/")),
                                                  kind.mime, len(data))
                put(signed.sign_url, data, route.put_type or kind.mime, pause=self.client.pause)
            except (OutcomeUnknown, UploadFailed) as err:
                last = err  # nothing kept: a fresh upload is free
                self.emit({"event": "retry", "key": key, "step": "upload", "reason": f"{name}: {err}"})
                continue
            assert self._known is not None
            self._known[sha] = signed.asset_url
            return signed.asset_url
        raise UploadFailed(f"local media {name}: not uploaded after {_ATTEMPTS} attempts ({last})")
