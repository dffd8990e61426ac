"""Saved plans: `plan --out FILE` writes what was reviewed, `apply FILE` runs exactly that.

A saved plan holds no secret: the manifest's path as given (apply resolves it from the
working directory, as `plan` did), `--select` and `--sandbox`, the state's location as
messages name it (a PostgreSQL DSN without its password: the same `--state` or
`JOGG_FLOW_STATE` must be given again), and digests of what would be sent (the selected
videos' inputs), of the state as read (records and identity) and of the API targeted.
`apply FILE` re-plans under the state's lock and refuses when any of them moved.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..engine.planner import Estimate, PlanItem, Rerender, selected
from ..errors import StateError, UsageError
from ..manifest.model import Manifest, Video
from ..state import default_path, describe_location
from ..state import load as load_state

if TYPE_CHECKING:
    from .online import Proposal

MARKER = "jogg_flow_plan"
VERSION = 1
MANIFEST_MOVED = "the manifest changed since the plan was saved; run plan again"
STATE_MOVED = "the state changed since the plan was saved (another apply?); run plan again"


def digest(value: Any) -> str:
    """A stable hash of plain data: key order and spacing do not matter."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def inputs_digest(videos: Sequence[Video], select: Sequence[str]) -> str:
    """What would be sent for the selected videos: their keys and inputs (a comment or a
    reordered mapping in the manifest leaves it; any rendered value, feed row or
    environment variable that changes what is sent moves it)."""
    return digest(sorted([v.key, v.inputs()] for v in videos if selected(v.key, v.tags, select)))


def state_digest(records: Mapping[str, Any], identity: Mapping[str, Any] | None) -> str:
    """The state as read: every record and the API identity it holds. (A store's records may
    be a lazy mapping, not a dict: read every one, or the digest would hold its repr.)"""
    return digest({"videos": {key: records[key] for key in records}, "identity": identity})


@dataclass(frozen=True)
class SavedPlan:
    """A plan file as read back."""

    file: str
    manifest: str
    select: tuple[str, ...]
    sandbox: bool
    state_name: str
    state: str  # the state's location as messages name it (never a password)
    api: str
    inputs: str
    state_digest: str
    actions: tuple[tuple[str, str], ...]  # (key, action) per item, in plan order
    retry_failed: bool = False  # planned with --retry-failed
    rerender_unseen_after: float | None = None  # planned with --rerender-unseen-after (seconds)
    planned_at: float | None = None  # when: the instant its ages were read at

    def where(self, state: str | None) -> str:
        """How `--state` (None: the default) would be named: compared with `state`."""
        return place(describe_location(state or default_path(self.manifest, self.state_name),
                                       self.state_name))


def place(where: str) -> str:
    """A state's description as saved: a file relative to the working directory (plan and
    apply run from the same one, as in a CI checkout at another path); a database as named."""
    # describe_location names a file by its path, a database as "PostgreSQL state '…' on …".
    return where if where.startswith("PostgreSQL state ") else os.path.relpath(where)


@dataclass(frozen=True)
class Planned:
    """What `plan` showed, to be saved."""

    manifest_arg: str
    manifest: Manifest
    items: list[PlanItem]
    select: Sequence[str]
    sandbox: bool
    location: str
    state_name: str
    target: Mapping[str, Any]
    estimate: Estimate
    rate: tuple[int, float]
    retry_failed: bool = False
    rerender: Rerender | None = None  # --rerender-unseen-after, with the instant planned at
    orientation: str = ""  # the default orientation plan names
    notes: tuple[str, ...] = ()  # the lines plan printed below the plan (orientation, renames)


def write(path: str, planned: Planned) -> None:
    """Write the plan file. The state is read again for its digest; if it moved since the
    plan was shown (an apply finishing meanwhile), the plan shown is not saved."""
    store = load_state(planned.location, planned.state_name)
    if _actions(planned.items) != _actions(_replan(planned.manifest, store.videos, planned.select,
                                                   planned.retry_failed, planned.rerender)):
        raise StateError(STATE_MOVED.replace("was saved", "was shown"))
    body = {MARKER: VERSION, "manifest": planned.manifest_arg, "name": planned.manifest.name,
            "select": list(planned.select), "sandbox": planned.sandbox,
            "retry_failed": planned.retry_failed,
            **({"rerender_unseen_after": planned.rerender.after, "planned_at": planned.rerender.now}
               if planned.rerender else {}),
            "state": {"name": planned.state_name,
                      "where": place(describe_location(planned.location, planned.state_name)),
                      "digest": state_digest(store.videos, store.identity)},
            "api": digest(planned.target),
            "inputs": inputs_digest(planned.manifest.videos, planned.select),
            "items": [i.as_dict(values=True) for i in planned.items],
            "estimate": {"renders": planned.estimate.renders, "credits": planned.estimate.credits,
                         "posts": planned.estimate.posts,
                         "post_seconds": planned.estimate.post_seconds(planned.rate),
                         "from_previews": planned.estimate.from_previews,
                         "uploads": planned.estimate.uploads},
            "rate": list(planned.rate), "default_aspect_ratio": planned.orientation,
            "notes": planned.notes}
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, path)


def _replan(manifest: Manifest, records: Mapping[str, Any], select: Sequence[str],
            retry_failed: bool, rerender: Rerender | None) -> list[PlanItem]:
    from ..engine.planner import plan
    from ..state.edits import moved_view, moves_due

    records = moved_view(records, moves_due(records, manifest.moved))  # as plan showed them
    return plan(manifest.videos, records, select, retry_failed, rerender)


def _actions(items: Sequence[PlanItem]) -> tuple[tuple[str, str], ...]:
    return tuple((i.key, i.action) for i in items)


def read(path: str) -> SavedPlan | None:
    """The saved plan in `path`, or None when it is not one (a YAML manifest stays a manifest)."""
    try:
        with open(path, encoding="utf-8") as fh:
            if not fh.read(4096).lstrip().startswith("{"):
                return None
            fh.seek(0)
            body = json.load(fh)
    except (OSError, ValueError):
        return None  # not a plan: the manifest loader says what is wrong with it
    except RecursionError:
        raise UsageError(f"{path}:1:1: is nested too deeply to be a saved plan") from None
    if not isinstance(body, dict) or MARKER not in body:
        return None
    if body[MARKER] != VERSION:
        raise UsageError(f"{path}: saved plan format {body[MARKER]!r} is not one this jogg-flow reads "
                         f"({VERSION}); run plan again")
    try:
        state = body["state"]
        return SavedPlan(path, str(body["manifest"]), tuple(body["select"]), bool(body["sandbox"]),
                         str(state["name"]), str(state["where"]), str(body["api"]), str(body["inputs"]),
                         str(state["digest"]),
                         tuple((str(i["key"]), str(i["action"])) for i in body["items"]),
                         bool(body.get("retry_failed", False)),
                         _seconds(body.get("rerender_unseen_after")), _seconds(body.get("planned_at")))
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{path}: not a complete saved plan; run plan --out again") from None


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(value)
    return float(value)


def conflicts(saved: SavedPlan, select: Sequence[str], sandbox: bool, state: str | None,
              retry_failed: bool = False, rerender_unseen_after: float | None = None) -> None:
    """Options that would change what the saved plan covers are refused, by name."""
    if rerender_unseen_after is not None and rerender_unseen_after != saved.rerender_unseen_after:
        raise UsageError(f"--rerender-unseen-after cannot be used with {saved.file}: it was planned "
                         "with another rule (or none); plan again with the rule wanted")
    if retry_failed and not saved.retry_failed:
        raise UsageError(f"--retry-failed cannot be used with {saved.file}: it was planned without "
                         "it; plan again with --retry-failed")
    if select:
        raise UsageError(f"--select cannot be used with a saved plan ({saved.file}): it applies the "
                         "videos it planned; plan again with --select")
    if sandbox and not saved.sandbox:
        raise UsageError(f"--sandbox cannot be used with {saved.file}: it was planned against JoggAI")
    here = saved.where(state)
    if here != saved.state:
        raise UsageError(f"{saved.file} was planned against {saved.state}, not {here}: pass the same "
                         "--state (or JOGG_FLOW_STATE) as plan had")


def checker(saved: SavedPlan) -> Callable[[Proposal], bool]:
    """runner.apply's `confirm` for a saved plan: the approval was the plan, so it asks
    nothing, but refuses (before anything is sent) when what it covered moved."""
    def confirm(proposal: Proposal) -> bool:
        if digest(dict(proposal.target)) != saved.api:
            raise UsageError(f"{saved.file} was planned against another API (api.version, "
                             "api.base_url, --api-base or JOGG_API_BASE changed); run plan again")
        if (inputs_digest(proposal.manifest.videos, saved.select) != saved.inputs
                or place(proposal.where) != saved.state):
            raise UsageError(MANIFEST_MOVED)
        if (state_digest(proposal.records, proposal.identity) != saved.state_digest
                or _actions(proposal.items) != saved.actions):
            raise StateError(STATE_MOVED)
        return True
    return confirm


@dataclass(frozen=True)
class Shown:
    """A saved plan as `show` prints it: what `plan` printed when it was saved."""

    document: dict[str, Any]  # plan --output json's document
    items: list[PlanItem]
    estimate: Estimate
    rate: tuple[int, float] | None
    sandbox: bool
    notes: tuple[str, ...]


def shown(path: str) -> Shown:
    """Read `path` as a saved plan for reading, not running; anything else, or a plan that
    does not hold together, is one clear error (exit 3)."""
    if read(path) is None:
        raise UsageError(f"{path}: not a plan saved by `jogg-flow plan --out FILE`")
    with open(path, encoding="utf-8") as fh:
        body = json.load(fh)
    try:
        items = [_item(raw) for raw in body["items"]]
        est = body["estimate"]
        estimate = Estimate(int(est["renders"]), int(est["credits"]), int(est["posts"]),
                            int(est.get("from_previews", 0)), int(est.get("uploads", 0)))
        rate = body.get("rate")
        rate = (int(rate[0]), float(rate[1])) if isinstance(rate, list) and len(rate) == 2 else None
        notes = tuple(str(n) for n in body.get("notes") or ())
    except (KeyError, TypeError, ValueError, IndexError):
        raise UsageError(f"{path}: not a complete saved plan; run plan --out again") from None
    from ..engine.planner import counts

    document = {"manifest": str(body["manifest"]), "name": str(body.get("name", "")),
                "items": [i.as_dict(values=True) for i in items], "counts": counts(items),
                "estimate": {**est}, "default_aspect_ratio": body.get("default_aspect_ratio", "")}
    return Shown(document, items, estimate, rate, bool(body.get("sandbox")), notes)


def _item(raw: Any) -> PlanItem:
    from ..engine.planner import Action, Change

    if not isinstance(raw, dict):
        raise TypeError("an item is not an object")
    diff = tuple(Change(str(c["field"]), c.get("old"), c.get("new")) for c in raw.get("diff") or ())
    return PlanItem(str(raw["key"]), Action(raw["action"]), tuple(str(c) for c in raw.get("changes") or ()),
                    detail=str(raw.get("detail") or ""), diff=diff)
