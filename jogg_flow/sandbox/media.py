"""Real media the sandbox serves as rendered videos and covers, so a trial run can be watched.

The video is a 3-second, 320x568 H.264 (baseline) MP4 made once with ffmpeg and shipped as
package data (`assets/sandbox.mp4`, about 16 KB); it was made with:

    ffmpeg -f lavfi -i testsrc=size=320x568:rate=15 -t 3 -pix_fmt yuv420p -c:v libx264 \\
        -profile:v baseline -crf 30 -movflags +faststart -map_metadata -1 -fflags +bitexact \\
        jogg_flow/sandbox/assets/sandbox.mp4

The cover is a 320x568 PNG (a gradient with soft diagonal bands) written with zlib here.
"""

from __future__ import annotations

import functools
import os
import struct
import zlib

COVER_SIZE = (320, 568)  # 9:16, like the video
VIDEO_SECONDS = 3
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # Windows has none (and no symlink planted by a user)


@functools.lru_cache(maxsize=1)
def mp4() -> bytes:
    """The shipped sample video (a playable H.264 MP4 with its index at the front)."""
    from importlib import resources  # only when a video is served: the CLI starts without it

    return resources.files(__package__).joinpath("assets", "sandbox.mp4").read_bytes()


@functools.lru_cache(maxsize=4)
def png(width: int = COVER_SIZE[0], height: int = COVER_SIZE[1]) -> bytes:
    """A cover: a violet-to-amber gradient with soft diagonal bands."""
    top, bottom = (58, 28, 113), (255, 153, 102)
    rows = []
    for y in range(height):
        t = y / max(height - 1, 1)
        base = [round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)]
        row = bytearray(b"\0")  # filter type 0 for this scanline
        for x in range(width):
            lift = 18 if (x + y) // 24 % 2 else 0
            row += bytes(min(255, c + lift) for c in base)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def keep(directory: str, keys: list[str]) -> int:
    """Write each video's sandbox media to DIR/KEY.mp4 and DIR/KEY.cover.png (the names
    `--download` uses), so a `--sandbox` run leaves videos to open after its API is gone.
    No network: every sandbox render is this same video. Returns how many files were written."""
    return sum(1 for key in keys for _, _, written in kept(directory, key) if written)


def kept(directory: str, key: str) -> list[tuple[str, int, bool]]:
    """KEY's video and cover in DIR, written unless already there: (path, bytes, written) for
    each ("video" first). `--download` with `--sandbox` takes them from here, not from the
    sandbox's URLs (they die with it)."""
    out = []
    root = os.path.realpath(directory)
    base = os.path.join(directory, *key.split("/"))
    for path, payload in ((base + ".mp4", mp4()), (base + ".cover.png", png())):
        if os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) == len(payload):
            out.append((path, len(payload), False))
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Confined to DIR, never through a planted link (keys come from a state file).
        if os.path.commonpath([root, os.path.realpath(os.path.dirname(path))]) != root:
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        out.append((path, len(payload), True))
    return out


_KINDS = (".mp4", ".cover.png")


def _files(directory: str, key: str) -> list[str]:
    """KEY's kept files, when they are plain files inside DIR (keys come from a state file)."""
    root = os.path.realpath(directory)
    base = os.path.join(directory, *key.split("/"))
    return [path for path in (base + kind for kind in _KINDS)
            if os.path.isfile(path) and not os.path.islink(path)
            and os.path.commonpath([root, os.path.realpath(path)]) == root]


def rename(directory: str, old: str, new: str) -> None:
    """`state mv` of a sandbox video: its kept files follow the record."""
    here, there = os.path.join(directory, *old.split("/")), os.path.join(directory, *new.split("/"))
    for path in _files(directory, old):
        target = there + path[len(here):]  # the same kind (.mp4, .cover.png)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(path, target)


def forget(directory: str, keys: list[str]) -> None:
    """`state rm` of sandbox videos: their kept files go with their records."""
    for key in keys:
        for path in _files(directory, key):
            os.remove(path)
