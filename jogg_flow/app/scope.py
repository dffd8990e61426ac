"""Which manifest, which state, which videos, against which API: what every command names.

A `Scope` is what the command line's shared options say; the helpers here turn it into
places (the state's location and name), the API identity a state records, and the loaded
manifest with its recorded videos.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..api.generations import generation, resolve_base
from ..engine import planner
from ..errors import UsageError
from ..manifest import load_manifest
from ..manifest.model import Manifest
from ..state import default_path, describe_location, edits, is_postgres
from ..state import identity as identity
from ..state import load as load_state

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Scope:
    """A command's target: the manifest file, `--state`, `--select`, `--sandbox`,
    `--api-base`, the environment it reads (None: the process's), `--retry-failed`
    (failed renders are rendered again only when asked) and `--rerender-unseen-after`
    (seconds; `planned_at`: the instant its ages are read at, None: now)."""

    manifest: str
    state: str | None = None
    select: Sequence[str] = ()
    sandbox: bool = False
    api_base: str | None = None
    environ: Mapping[str, str] | None = None
    retry_failed: bool = False
    rerender_unseen_after: float | None = None
    planned_at: float | None = None

    @property
    def env(self) -> Mapping[str, str]:
        """The environment the command reads: `environ`, else the process's."""
        return os.environ if self.environ is None else self.environ


def rerender_rule(scope: Scope, manifest: Manifest) -> planner.Rerender | None:
    """The settle rule `--rerender-unseen-after` (else the manifest's
    `api.rerender_unseen_after`) asks for, where the manifest's API offers a read that can
    show a render never started (not v1: its needs-checks stay the user's)."""
    after = scope.rerender_unseen_after
    after = manifest.rerender_unseen_after if after is None else after
    if after is None or not generation(manifest.api_version).reads_evidence:
        return None
    return planner.Rerender(after, time.time() if scope.planned_at is None else scope.planned_at)


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
    return identity.make(manifest.api_version,
                         resolve_base(manifest.api_version, api_base, environ, manifest.base_url))


def load(scope: Scope, warn: Warn | None = None) -> tuple[Manifest, Mapping[str, dict[str, Any]]]:
    """The scope's manifest and its recorded videos, read without the lock (for the offline
    commands); a state of another API is refused, and `warn` hears what a reader should know."""
    environ = scope.env
    manifest = load_manifest(scope.manifest, environ)
    check_selection(manifest, scope.select)
    location = state_path_for(manifest, scope.state, scope.sandbox)
    name = state_name(manifest, scope.sandbox)
    store = load_state(location, name)
    label = describe_location(location, name)
    if store.identity is not None:
        identity.check(store.identity, target_identity(manifest, scope.api_base, environ, scope.sandbox),
                       label)
    elif store.existed and warn:
        warn(f"{label} does not say which API it was made against (an older jogg-flow wrote it); "
             "the next apply records it")
    if warn:
        for note in store.notes:
            warn(note)
        for note in feed_changes(manifest, store.identity):
            warn(note)
        if not store.existed and (scope.state or environ.get("CI")):
            warn(f"no state at {label}: every video is planned as new. If a state should be there "
                 "(a CI cache that was not restored?), restore it before applying")
    due = edits.moves_due(store.videos, manifest.moved)
    for old, new in due:
        if warn:
            warn(f"moved: {old} → {new} (the manifest's moved:); its video is kept, and the next "
                 "apply records the new key")
    return manifest, edits.moved_view(store.videos, due) if due else store.videos


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


def unlock_command(scope: Scope) -> str:
    """`jogg-flow unlock` as this run's user would type it for its state (a PostgreSQL URL is
    not repeated: it may hold a password)."""
    words = ["jogg-flow", "unlock", scope.manifest] + (["--sandbox"] if scope.sandbox else [])
    if scope.state and not is_postgres(scope.state):
        words += ["--state", scope.state]
    return " ".join(words)
