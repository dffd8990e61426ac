"""The Python API under the CLI, for the offline commands: validate and plan.

`apply`, which needs the HTTP client, lives in `runner` so these start fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import planner, report
from .errors import ManifestError, Problem, UsageError
from .manifest import Manifest, load_manifest
from .state import State, default_path


@dataclass(frozen=True)
class Checked:
    """The outcome of validating one file."""

    file: str
    manifest: Manifest | None
    problems: tuple[Problem, ...] = ()


def validate(paths: Sequence[str], environ: Mapping[str, str] | None = None) -> list[Checked]:
    """Validate every file, collecting all problems instead of stopping at the first."""
    out = []
    for path in paths:
        try:
            out.append(Checked(path, load_manifest(path, environ)))
        except ManifestError as err:
            out.append(Checked(path, None, tuple(err.problems)))
    return out


def state_path_for(manifest: Manifest, state: str | None, sandbox: bool = False) -> str:
    """`--state`, or the documented default beside the manifest (its own file for the
    sandbox, so trial runs never make real videos look finished)."""
    return state or default_path(manifest.file, manifest.name + (".sandbox" if sandbox else ""))


def plan(path: str, *, state: str | None = None, select: Sequence[str] = (),
         sandbox: bool = False, environ: Mapping[str, str] | None = None,
         ) -> tuple[Manifest, list[planner.PlanItem]]:
    """Load a manifest and its state and say what `apply` would do. No API calls."""
    manifest, records = _load(path, state, select, sandbox, environ)
    return manifest, planner.plan(manifest.videos, records, select)


def outputs(path: str, *, state: str | None = None, select: Sequence[str] = (),
            sandbox: bool = False, environ: Mapping[str, str] | None = None,
            ) -> list[dict[str, Any]]:
    """Per selected video (and orphan): key, project id, status, video and cover URL, duration."""
    manifest, records = _load(path, state, select, sandbox, environ)
    keys = [item.key for item in planner.plan(manifest.videos, records, select)]
    return report.outputs_rows(keys, records)


def _load(path: str, state: str | None, select: Sequence[str], sandbox: bool,
          environ: Mapping[str, str] | None) -> tuple[Manifest, dict[str, dict[str, Any]]]:
    manifest = load_manifest(path, environ)
    check_selection(manifest, select)
    return manifest, State.load(state_path_for(manifest, state, sandbox)).videos



def check_selection(manifest: Manifest, select: Sequence[str]) -> None:
    """A `--select` that matches nothing is a usage error, not a silent no-op."""
    if select and not any(planner.selected(v.key, v.tags, select) for v in manifest.videos):
        raise UsageError(f"--select {' '.join(select)} matches no video in {manifest.file}")
