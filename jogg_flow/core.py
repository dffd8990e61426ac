"""The Python API under the CLI, for the offline commands: validate and plan.

`apply`, which needs the HTTP client, lives in `runner` so these start fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import planner, report
from .errors import ManifestError, Problem, UsageError
from .manifest import Manifest, load_manifest
from .state import default_path, describe_location
from .state import identity as identity
from .state import load as load_state

Warn = Callable[[str], None]


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


def state_path_for(manifest: Manifest, state: str | None, sandbox: bool = False) -> str:
    """`--state` (a file or a postgresql:// URL), or the documented default beside the
    manifest (its own file for the sandbox, so trial runs never make real videos look finished)."""
    return state or default_path(manifest.file, state_name(manifest, sandbox))


def state_name(manifest: Manifest, sandbox: bool = False) -> str:
    """The state's name in a shared store: the manifest's name, apart for the sandbox."""
    return manifest.name + (".sandbox" if sandbox else "")


def target_identity(manifest: Manifest, api_base: str | None, environ: Mapping[str, str],
                    sandbox: bool) -> dict[str, Any]:
    """The API a run (or plan) of this manifest talks to, as a state records it."""
    if sandbox:
        return identity.make(manifest.api_version, None)
    from .api.bases import resolve_base

    return identity.make(manifest.api_version,
                         resolve_base(manifest.api_version, api_base, environ, manifest.base_url))


def plan(path: str, *, state: str | None = None, select: Sequence[str] = (),
         sandbox: bool = False, environ: Mapping[str, str] | None = None,
         api_base: str | None = None, warn: Warn | None = None,
         ) -> tuple[Manifest, list[planner.PlanItem]]:
    """Load a manifest and its state and say what `apply` would do. No API calls."""
    manifest, items, _ = plan_with_records(path, state=state, select=select, sandbox=sandbox,
                                           environ=environ, api_base=api_base, warn=warn)
    return manifest, items


def plan_with_records(path: str, *, state: str | None = None, select: Sequence[str] = (),
                      sandbox: bool = False, environ: Mapping[str, str] | None = None,
                      api_base: str | None = None, warn: Warn | None = None,
                      ) -> tuple[Manifest, list[planner.PlanItem], Mapping[str, Any]]:
    """`plan`, with the recorded videos it was made from (for estimates)."""
    manifest, records = _load(path, _Where(state, sandbox, api_base), select, environ, warn)
    return manifest, planner.plan(manifest.videos, records, select), records


def outputs(path: str, *, state: str | None = None, select: Sequence[str] = (),
            sandbox: bool = False, environ: Mapping[str, str] | None = None,
            api_base: str | None = None, warn: Warn | None = None,
            ) -> list[dict[str, Any]]:
    """Per selected video (and orphan): key, project id, status, video and cover URL, duration."""
    manifest, records = _load(path, _Where(state, sandbox, api_base), select, environ, warn)
    keys = [item.key for item in planner.plan(manifest.videos, records, select)]
    return report.outputs_rows(keys, records)


def gallery_records(path: str, *, state: str | None = None, select: Sequence[str] = (),
                    sandbox: bool = False, environ: Mapping[str, str] | None = None,
                    api_base: str | None = None, warn: Warn | None = None,
                    ) -> tuple[Manifest, list[str], Mapping[str, dict[str, Any]]]:
    """What `outputs --output html` shows: the manifest, the selected keys in plan order, the records."""
    manifest, records = _load(path, _Where(state, sandbox, api_base), select, environ, warn)
    return manifest, [item.key for item in planner.plan(manifest.videos, records, select)], records


@dataclass(frozen=True)
class _Where:
    state: str | None
    sandbox: bool
    api_base: str | None


def _load(path: str, where: _Where, select: Sequence[str], environ: Mapping[str, str] | None,
          warn: Warn | None) -> tuple[Manifest, Mapping[str, dict[str, Any]]]:
    environ = os.environ if environ is None else environ
    manifest = load_manifest(path, environ)
    check_selection(manifest, select)
    location = state_path_for(manifest, where.state, where.sandbox)
    name = state_name(manifest, where.sandbox)
    store = load_state(location, name)
    label = describe_location(location, name)
    if store.identity is not None:
        identity.check(store.identity, target_identity(manifest, where.api_base, environ, where.sandbox),
                       label)
    elif store.existed and warn:
        warn(f"{label} does not say which API it was made against (an older jogg-flow wrote it); "
             "the next apply records it")
    if warn:
        for note in store.notes:
            warn(note)
        for note in feed_changes(manifest, store.identity):
            warn(note)
        if not store.existed and (where.state or environ.get("CI")):
            warn(f"no state at {label}: every video is planned as new. If a state should be there "
                 "(a CI cache that was not restored?), restore it before applying")
    return manifest, store.videos


def feed_digests(manifest: Manifest) -> dict[str, str]:
    """Each read feed's content hash, by its place relative to the manifest (or its URL), so
    a state restored on another machine or checkout still recognises it."""
    here = os.path.dirname(os.path.abspath(manifest.file))
    return {(f.source if "://" in f.source else os.path.relpath(f.source, here)): f.digest
            for f in manifest.feeds if f.digest}


def feed_changes(manifest: Manifest, recorded: Mapping[str, Any] | None) -> list[str]:
    """A line per feed whose content differs from what the last apply read."""
    before = (recorded or {}).get("feeds") or {}
    return [f"feed {name} changed since the last apply ({before[name][:19]}… -> {digest[:19]}…): "
            "changed rows are planned as replace, removed ones as orphaned"
            for name, digest in feed_digests(manifest).items()
            if name in before and before[name] != digest]


def check_selection(manifest: Manifest, select: Sequence[str]) -> None:
    """A `--select` that matches nothing is a usage error, not a silent no-op."""
    if select and not any(planner.selected(v.key, v.tags, select) for v in manifest.videos):
        raise UsageError(f"--select {' '.join(select)} matches no video in {manifest.file}")
