"""Local media: files a manifest names in `details.intro_medias` (or a feed's image column),
checked where they are named and identified by their content.

A file is named relative to the manifest and stays in its folder tree (`feeds.files`: no
`..`, no absolute path, no link out, no special file). Its type and size must be ones JoggAI
documents (`api.generations.MEDIA_TYPES`): the extension says the type and the first bytes
must agree. Its SHA-256 joins the video's inputs, so an edited file is a changed input (a
fresh product gets the new upload) and an unchanged one is uploaded once (`engine.uploads`);
its path does not (`Video.local_files` says where each content is read from).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import struct
from collections.abc import Callable
from typing import Any

from ..api.generations import MEDIA_TYPES, MediaType

Path = tuple[Any, ...]
KINDS = "JPG, PNG, WebP or GIF images up to 10 MB; MP4, WebM or MOV videos up to 100 MB"
WHAT = "media file"
_MAX_ELEMENTS = 1000  # boxes or elements read per level looking for a length
_ISO_TYPES = ("video/mp4", "video/quicktime")  # ISO base media: their length is in moov/mvhd


def is_local(text: str) -> bool:
    """Whether a media string names a file (the schema lets only URLs contain ':')."""
    return ":" not in text


def media_type(name: str) -> MediaType | None:
    """The documented type a file's extension names, or None."""
    return MEDIA_TYPES.get(posixpath.splitext(name.replace("\\", "/"))[1].lower())


def read_checked(root: str, name: str) -> tuple[bytes, MediaType]:
    """The bytes of media file `name` under `root`, with its type; FetchError saying why not
    (outside the tree, missing, not a type JoggAI takes, too large, not what it says)."""
    # The feeds package (every reader) loads only when a manifest names a local file.
    from ..feeds.fetch import FetchError
    from ..feeds.files import inside, open_inside

    inside(root, name, WHAT)  # a name leading out is refused as such, whatever its type
    kind = media_type(name)
    if kind is None:
        ext = posixpath.splitext(name)[1]
        said = f"{ext} is not" if ext else "has no extension, so it is not"
        raise FetchError(f"{name}: {said} a type JoggAI takes as media ({KINDS})")
    with open_inside(root, name, name, WHAT) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > kind.max_bytes:
            raise FetchError(f"{name}: {size / 2**20:.1f} MB is over JoggAI's limit of "
                             f"{kind.max_bytes // 2**20} MB for {kind.mime}")
        if size == 0:
            raise FetchError(f"{name}: is empty")
        data = fh.read(kind.max_bytes + 1)
    if len(data) > kind.max_bytes:  # grew since it was measured
        raise FetchError(f"{name}: is over JoggAI's limit of {kind.max_bytes // 2**20} MB")
    if not any(data[at:at + len(magic)] == magic for at, magic in kind.magic):
        raise FetchError(f"{name}: does not hold {kind.mime} data, as its extension says")
    seconds = iso_seconds(data) if kind.mime in _ISO_TYPES else \
        webm_seconds(data) if kind.mime == "video/webm" else None
    if seconds is not None and seconds > kind.max_seconds:
        raise FetchError(f"{name}: is {seconds:.0f} s long, over JoggAI's limit of "
                         f"{kind.max_seconds // 60} minutes for a clip")
    return data, kind


def iso_seconds(data: bytes) -> float | None:
    """The length an MP4 or MOV file's movie header (`moov/mvhd`) states, or None where it
    says none."""
    moov = _box(data, 0, len(data), b"moov")
    mvhd = moov and _box(data, moov[0], moov[1], b"mvhd")
    if not mvhd:
        return None
    at = mvhd[0]
    try:
        if data[at] == 1:  # version 1: 64-bit times and duration
            scale, duration = struct.unpack_from(">IQ", data, at + 20)
        else:
            scale, duration = struct.unpack_from(">II", data, at + 12)
    except (struct.error, IndexError):
        return None
    return float(duration) / scale if scale else None


def webm_seconds(data: bytes) -> float | None:
    """The length a WebM (Matroska) file's Segment Info states, or None where it says none."""
    segment = _ebml(data, 0, len(data), 0x18538067)
    info = segment and _ebml(data, segment[0], segment[1], 0x1549A966)
    if not info:
        return None
    scale_at, duration_at = _ebml(data, *info, 0x2AD7B1), _ebml(data, *info, 0x4489)
    if not duration_at:
        return None
    scale = int.from_bytes(data[scale_at[0]:scale_at[1]], "big") if scale_at else 1_000_000
    raw = data[duration_at[0]:duration_at[1]]
    if len(raw) not in (4, 8):
        return None
    ticks = struct.unpack(">f" if len(raw) == 4 else ">d", raw)[0]
    return float(ticks) * scale / 1e9


def _ebml(data: bytes, start: int, end: int, wanted: int) -> tuple[int, int] | None:
    """(content start, end) of the first EBML element `wanted` among those in data[start:end];
    a Segment of unknown size runs to the end."""
    at = start
    for _ in range(_MAX_ELEMENTS):
        if at >= end:
            return None
        head = _vint(data, at, end, keep_marker=True)
        if head is None:
            return None
        element, at = head
        size = _vint(data, at, end, keep_marker=False)
        if size is None:
            return None
        length, at = size
        stop = end if length is None else min(end, at + length)
        if element == wanted:
            return at, stop
        if length is None:
            return None  # an unknown size other than the one looked for: cannot skip it
        at = stop
    return None  # not among the first elements, where files written for playback keep it


def _vint(data: bytes, at: int, end: int, keep_marker: bool) -> tuple[int | None, int] | None:
    """An EBML variable-length integer at `at`: (value, where the next byte is); the value is
    None for a size whose bits are all ones (unknown)."""
    if at >= end or data[at] == 0:
        return None
    width = 8 - data[at].bit_length() + 1
    if at + width > end or width > 8:
        return None
    value = int.from_bytes(data[at:at + width], "big")
    if keep_marker:
        return value, at + width
    value &= (1 << (7 * width)) - 1
    return (None if value == (1 << (7 * width)) - 1 else value), at + width


def _box(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(content start, end) of the first box `kind` among the boxes in data[start:end]."""
    at = start
    try:
        for _ in range(_MAX_ELEMENTS):
            if at + 8 > end:
                return None
            size, name = struct.unpack_from(">I4s", data, at)
            head = 8
            if size == 1:  # a 64-bit size follows the name
                size, head = struct.unpack_from(">Q", data, at + 8)[0], 16
            elif size == 0:  # to the end
                size = end - at
            if size < head:
                return None
            if name == kind:
                return at + head, min(at + size, end)
            at += size
    except struct.error:
        return None
    return None  # not among the first boxes: a crafted file is not walked for ever


def digest(data: bytes) -> str:
    """The content key of a file: its SHA-256, hex."""
    return hashlib.sha256(data).hexdigest()


class LocalMedia:
    """Checks and hashes each file once per manifest, however many products name it."""

    def __init__(self, manifest_file: str, fail: Callable[[Path, str], None]) -> None:
        self.root = os.path.dirname(os.path.abspath(manifest_file))
        self.fail = fail
        self._seen: dict[str, tuple[str, int] | str] = {}  # name -> (sha256, kind) or the problem

    def attach(self, details: dict[str, Any],
               where: Callable[[int], Path]) -> tuple[dict[str, Any], dict[str, str]]:
        """`details` with each local media item identified by its content (kind and SHA-256,
        its path left out: moving a file changes nothing sent), and each content's file
        (hash -> the name written); each problem reported at `where(index)`, the item's place."""
        medias = details.get("intro_medias")
        if not isinstance(medias, list) or not any(isinstance(m, dict) and "file" in m for m in medias):
            return details, {}
        out, files = [], {}
        for i, item in enumerate(medias):
            if isinstance(item, dict) and isinstance(item.get("file"), str):
                name, item = item["file"], self._item(item, where(i))
                if "sha256" in item:
                    files[item["sha256"]] = name
            out.append(item)
        return {**details, "intro_medias": out}, files

    def _item(self, item: dict[str, Any], path: Path) -> dict[str, Any]:
        from ..feeds.fetch import FetchError

        name = item["file"]
        seen = self._seen.get(name)
        if seen is None:
            try:
                data, kind = read_checked(self.root, name)
                seen = (digest(data), kind.kind)
            except FetchError as err:
                seen = str(err)
            self._seen[name] = seen
        if isinstance(seen, str):
            self.fail(path, seen)
            return item
        sha, kind_ = seen
        if item.get("type") not in (None, kind_):
            said = "video" if item["type"] == 2 else "image"
            self.fail(path, f"{name}: is {'a video' if kind_ == 2 else 'an image'}, but type says {said}")
        kept = {k: v for k, v in item.items() if k != "file"}
        return {**kept, "type": kind_, "sha256": sha}


def local_item(item: dict[str, Any]) -> dict[str, Any]:
    """A `{file, type?, name?, description?}` item as the video keeps it (type 1|2 once
    known, a name from the file's)."""
    name = item["file"]
    base = posixpath.basename(name.replace("\\", "/"))
    out: dict[str, Any] = {"file": name, "name": item.get("name") or base}
    if item.get("type") in ("image", "video"):
        out["type"] = 2 if item["type"] == "video" else 1
    if "description" in item:
        out["description"] = item["description"]
    return out
