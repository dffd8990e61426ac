"""`validate` as a function: every manifest read and checked, no state, no API. Kept apart
from `offline` so that the pre-commit hook's command loads neither the planner nor the state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import ManifestError, Problem
from ..manifest import load_manifest
from ..manifest.model import Manifest


@dataclass(frozen=True)
class Checked:
    """The outcome of validating one file."""

    file: str
    manifest: Manifest | None
    problems: tuple[Problem, ...] = ()


def validate(paths: Sequence[str], environ: Mapping[str, str] | None = None, *,
             offline: bool = False) -> list[Checked]:
    """Validate every file, collecting all problems instead of stopping at the first;
    `offline` leaves URL feeds unfetched."""
    out = []
    for path in paths:
        try:
            out.append(Checked(path, load_manifest(path, environ, offline=offline)))
        except ManifestError as err:
            out.append(Checked(path, None, tuple(err.problems)))
    return out
