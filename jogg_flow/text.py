"""Text that came from elsewhere (a feed, a state file, an API answer), made safe to print
or checked before it is used as a URL. The bottom layer: it imports nothing of jogg-flow."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlsplit

# Bidirectional overrides and isolates: they reorder what a reader sees (Trojan Source).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """`text` made safe to print on one line: control characters (a newline, an escape
    sequence, a carriage return), line separators, bidirectional overrides and lone
    surrogates are shown as escapes (`\\x1b`, `\\n`). Every value that came from a feed,
    a state file or an API answer goes through it before a terminal or a CI log sees it: a
    newline there starts a GitHub workflow command (`::add-mask::`), an escape drives the
    terminal, and a lone surrogate cannot be encoded at all."""
    if text.isprintable():
        return text
    return "".join(_escape(c) if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in _BIDI
                   else c for c in text)


def _escape(c: str) -> str:
    code = ord(c)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c)
    return named or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def web_url(value: Any) -> bool:
    """Whether `value` is a plain http(s) URL with a host: no whitespace, control, format
    or separator characters, at most 8 KiB. What an API or a state file says is a URL is
    used, printed or linked only when it is one."""
    if not isinstance(value, str) or not value or len(value) > 8192:
        return False
    if not value.isprintable() or " " in value:
        return False  # isprintable: no Cc, Cf, Cs, Zl, Zp, nor Zs other than the space
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
