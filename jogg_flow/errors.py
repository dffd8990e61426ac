"""The user-facing exceptions. Each carries its exit code and formats itself; none prints."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import printable

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
        self.problems = sorted(set(problems), key=_in_reading_order)
        super().__init__("\n".join(str(p) for p in self.problems))


def _in_reading_order(problem: Problem) -> tuple[str, int, int, list[tuple[str, int]]]:
    """File, line, column, then the message with its numbers compared as numbers: feed rows
    9, 10, 100 in that order, not 10, 100, 9."""
    parts = re.split(r"(\d+)", problem.message)
    return (problem.file, problem.line, problem.col,
            [(parts[i], int(parts[i + 1]) if i + 1 < len(parts) else -1) for i in range(0, len(parts), 2)])


class StateError(JoggFlowError):
    """The state file is locked, unreadable or from a newer version."""

    exit_code = 4


class LockedError(StateError):
    """Another run holds the state's lock: `held` says who, `remedy` what to do about it
    (`apply --lock-timeout` waits for it instead)."""

    def __init__(self, held: str, remedy: str = "") -> None:
        super().__init__(held + (f"; {remedy}" if remedy else ""))
        self.held, self.remedy = held, remedy
