"""Tiny, valid media files the sandbox serves as rendered videos and covers."""

from __future__ import annotations

import struct
import zlib


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(duration_s: int) -> bytes:
    """An ISO-BMFF file (ftyp + moov/mvhd) whose header states `duration_s`."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    mvhd = _box(b"mvhd", struct.pack(">B3xIIII", 0, 0, 0, 1000, duration_s * 1000)
                + struct.pack(">IH10x", 0x00010000, 0x0100)
                + struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
                + b"\0" * 24 + struct.pack(">I", 2))
    return ftyp + _box(b"moov", mvhd) + _box(b"free", b"jogg-flow sandbox")


def png(width: int = 16, height: int = 9, rgb: tuple[int, int, int] = (40, 90, 200)) -> bytes:
    """A solid-colour PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    row = b"\0" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))
