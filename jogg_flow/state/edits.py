"""State surgery that saves paying again: rename a video's record, forget by glob, adopt a
video made outside jogg-flow, settle a needs-check video. Works on any store (file or
PostgreSQL) through `Store`."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import UsageError
from .base import Record, Store
from .records import KEY_RE
from .status import Status, of_record


def move(store: Store, old: str, new: str) -> None:
    """Give OLD's record to NEW (the render, outputs and history with it); OLD is forgotten.
    NEW is written before OLD goes, so a crash in between leaves both, never neither."""
    if not KEY_RE.match(new):
        raise UsageError(f"'{new}' is not a video key (KEY or KEY/VARIANT of letters, digits, '.', '_', '-')")
    record = store.get(old)
    if record is None:
        raise UsageError(f"no video '{old}' in the state: nothing to move")
    if new in store.videos:
        raise UsageError(f"'{new}' is already in the state; `jogg-flow state rm` it first if it should go")
    record["key"] = new
    history = record.get("history")
    history = list(history) if isinstance(history, list) else []
    record["history"] = [*history, {"renamed_from": old, "renamed_at": _now()}]
    store.put(new, record)
    store.put(old, None)


def moves_due(records: Mapping[str, Any], moved: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The manifest's `moved:` renames the state still needs: OLD recorded, NEW not yet (a
    rename done already, or one whose NEW holds its own video, is left as it is)."""
    due, taken = [], set(records)
    for old, new in moved:
        if old in taken and new not in taken:
            due.append((old, new))
            taken.discard(old)
            taken.add(new)
    return due


def moved_view(records: Mapping[str, Record], due: Sequence[tuple[str, str]]) -> dict[str, Record]:
    """The records as they will be once `due` is done (for a plan: nothing is written)."""
    view = dict(records)
    for old, new in due:
        view[new] = {**view.pop(old), "key": new}
    return view


def matching(store: Store, patterns: Sequence[str]) -> list[str]:
    """The recorded keys the patterns (exact keys or globs) name; a pattern naming none is refused."""
    keys = sorted(store.videos)
    found: list[str] = []
    for pattern in patterns:
        hits = [k for k in keys if k == pattern or fnmatch.fnmatchcase(k, pattern)]
        if not hits:
            raise UsageError(f"'{pattern}' matches no video in the state; nothing was forgotten")
        found += [k for k in hits if k not in found]
    return found


def adopted(key: str, tags: Sequence[str], inputs: dict[str, Any], project_id: str,
            info: Any) -> Record:
    """The record of a video rendered elsewhere, as read at the API (a ProjectInfo): done,
    or still rendering (the next apply collects it without paying)."""
    if info.status == Status.FAILED:
        raise UsageError(f"project {project_id} failed at JoggAI ({info.err_msg or 'no reason given'}); "
                         "nothing imported")
    record: Record = {"key": key, "tags": list(tags), "inputs": inputs, "product_id": None,
                      "project_id": project_id, "steps": {"create": "done", "render": "done"},
                      "history": [{"imported_at": _now(), "project_id": project_id}],
                      "submitted_at": _now()}
    if info.status == Status.SUCCEEDED:
        record.update(status=Status.SUCCEEDED, finished_at=_now(), remote={"status": "succeeded"},
                      outputs={"video_url": info.video_url, "cover_url": info.cover_url,
                               "duration": info.duration})
    else:
        record["status"] = Status.RENDERING
    return record


def settle(store: Store, key: str, project_id: str | None) -> Record:
    """Settle a needs-check video: with `project_id`, adopt the render the user saw in
    JoggAI's dashboard (the next apply polls it); without, the user says it never reached
    JoggAI and the next apply renders it again."""
    record = store.get(key)
    if record is None:
        raise UsageError(f"no video '{key}' in the state")
    if record.get("status") != Status.NEEDS_CHECK:
        raise UsageError(f"'{key}' is {of_record(record)}, not {Status.NEEDS_CHECK}: "
                         "nothing to settle")
    record.pop("error", None)
    if project_id:
        record.update(project_id=project_id, status=Status.RENDERING, adopted_by_user=_now())
        record["steps"]["render"] = "done"
    else:
        record.pop("marker", None)  # a fresh name, so a v2 lookup cannot mix the two
        record["status"] = Status.PENDING
        record["steps"].pop("render", None)
    store.put(key, record)
    return record


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
