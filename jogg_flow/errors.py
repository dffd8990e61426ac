"""The user-facing exceptions. Each carries its exit code and formats itself; none prints."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

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


# `apply --max-duration` ran out with videos left for the next apply (EX_TEMPFAIL: run again).
OUT_OF_TIME = 75


class JoggFlowError(Exception):
    """Base of every error a user may see without a traceback."""

    exit_code = 1


class UsageError(JoggFlowError):
    """A bad option or argument."""

    exit_code = 3


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a manifest, at a place in the user's file."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return printable(f"{self.file}:{self.line}:{self.col}: {self.message}")


class ManifestError(JoggFlowError):
    """A manifest that cannot be used; holds every problem found in it."""

    exit_code = 3

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class StateError(JoggFlowError):
    """The state file is locked, unreadable or from a newer version."""

    exit_code = 4
