"""Desired videos against recorded state: what each video needs. Pure; no I/O."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..manifest.model import Video
from ..state.status import Status
from .events import PlanEvent


class Action(str, Enum):
    """What `apply` will do for a video: a verb, not a status (each member is its word)."""

    CREATE = "create"  # never applied: a new product and render
    REPLACE = "replace"  # its inputs changed: a fresh product and render
    RESUME = "resume"  # an earlier run stopped before its render was accepted
    RETRY = "retry"  # JoggAI failed its render and the user asked (--retry-failed): start over
    FAILED = "failed"  # JoggAI failed its render: kept, never rendered again on our own
    WAIT = "wait"  # a render JoggAI accepted: collect it
    UP_TO_DATE = "up-to-date"
    ORPHANED = "orphaned"  # in the state, no longer in the manifest: left alone
    NEEDS_CHECK = "needs-check"  # a lost render answer the user settles

    def __str__(self) -> str:
        return self.value


ACTIONS = tuple(Action)
# Actions that start over from a fresh product and project (never render a project twice).
FRESH = (Action.CREATE, Action.REPLACE, Action.RETRY)
# Actions that mean `apply` has something to do.
CHANGES = (Action.CREATE, Action.REPLACE, Action.RESUME, Action.RETRY, Action.WAIT)
STEPS = ("create", "update", "render")
# The in-process sandbox runs 60 times faster than JoggAI (a 3-minute render takes 3 s), its
# POST budget included; `runner.SANDBOX_SCALE` is this value.
SANDBOX_SCALE = 60.0


@dataclass(frozen=True)
class Change:
    """One changed input field: its dotted name, the recorded value and the manifest's
    (None where the field is absent on that side)."""

    field: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        """The change as plain data, full values, for JSON output."""
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class PlanItem:
    """One video's action, with the input fields that changed (for `replace`)."""

    key: str
    action: Action
    changes: tuple[str, ...] = ()
    video: Video | None = field(default=None, compare=False)
    detail: str = ""
    # Old and new value per name in `changes` (values may be lists or mappings: not hashed).
    diff: tuple[Change, ...] = field(default=(), compare=False)

    def as_dict(self, values: bool = False) -> dict[str, Any]:
        """The item as plain data, for JSON output; `values` adds each change's old and new value."""
        out: dict[str, Any] = {"key": self.key, "action": self.action}
        if self.changes:
            out["changes"] = list(self.changes)
            if values:
                out["diff"] = [c.as_dict() for c in self.diff]
        if self.detail:
            out["detail"] = self.detail
        return out

    def as_event(self) -> PlanEvent:
        """The item as a run tells it (a `plan` event)."""
        event: PlanEvent = {"event": "plan", "key": self.key, "action": self.action}
        if self.changes:
            event["changes"] = list(self.changes)
        if self.detail:
            event["detail"] = self.detail
        return event


def selected(key: str, tags: Iterable[str], patterns: Sequence[str]) -> bool:
    """Whether a video matches any `--select` pattern (a key glob or `tag:NAME`)."""
    if not patterns:
        return True
    product = key.split("/", 1)[0]
    for pattern in patterns:
        if pattern.startswith("tag:"):
            if any(fnmatch.fnmatchcase(t, pattern[4:]) for t in tags):
                return True
        elif fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(product, pattern):
            return True
    return False


def plan(videos: Sequence[Video], records: Mapping[str, Mapping[str, Any]],
         select: Sequence[str] = (), retry_failed: bool = False) -> list[PlanItem]:
    """The action for every selected video, then the recorded videos the manifest dropped.
    `retry_failed` (`--retry-failed`): render again the videos whose render JoggAI failed."""
    items = [item_for(v, records.get(v.key), retry_failed) for v in videos
             if selected(v.key, v.tags, select)]
    wanted = {v.key for v in videos}
    for key, record in records.items():
        if key not in wanted and selected(key, record.get("tags", ()), select):
            items.append(PlanItem(key, Action.ORPHANED, detail="no longer in the manifest; left alone"))
    return items


def item_for(video: Video, record: Mapping[str, Any] | None, retry_failed: bool = False) -> PlanItem:
    """The action one video needs, given its record (or None)."""
    if record is None:
        return PlanItem(video.key, Action.CREATE, video=video)
    if record.get("status") == Status.NEEDS_CHECK:
        # A render that may have been paid for: never sent again (not even for a changed
        # manifest) until the user settles it.
        return PlanItem(video.key, Action.NEEDS_CHECK, video=video,
                        detail=str(record.get("error") or "a render's answer was lost"))
    diff = changed_values(record.get("inputs", {}), video.inputs())
    if diff:
        return PlanItem(video.key, Action.REPLACE, tuple(c.field for c in diff), video, diff=diff)
    status = record.get("status")
    if status == Status.SUCCEEDED:
        return PlanItem(video.key, Action.UP_TO_DATE, video=video)
    if status == Status.FAILED:
        # JoggAI charged for the failed render and refunds nothing: a failure that repeats
        # (a page it cannot read) would be paid on every apply. Only the user asks again.
        reason = str((record.get("remote") or {}).get("err_msg") or record.get("error") or "render failed")
        return PlanItem(video.key, Action.RETRY if retry_failed else Action.FAILED, video=video,
                        detail=reason)
    steps = record.get("steps", {})
    if steps.get("render") == "done":
        return PlanItem(video.key, Action.WAIT, video=video)
    if steps.get("render") == "inflight":
        return PlanItem(video.key, Action.RESUME, video=video,
                        detail="next: look for the render sent before; never sent twice")
    pending = [s for s in STEPS if steps.get(s) != "done" and (s != "update" or video.details)]
    refused = record.get("refused")
    why = f" (JoggAI refused it last time, nothing was charged: {refused['reason']})" \
        if isinstance(refused, Mapping) and refused.get("reason") else ""
    return PlanItem(video.key, Action.RESUME, video=video, detail="next: " + ", ".join(pending) + why)


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """Dotted names of the input fields that differ: ('url', 'render.lang', ...)."""
    return tuple(c.field for c in changed_values(old, new))


def changed_values(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[Change, ...]:
    """The input fields that differ, each with its old and new value, in name order."""
    out = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section), new.get(section)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += [Change(f"{section}.{k}", a.get(k), b.get(k))
                    for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        else:
            out.append(Change(section, a, b))
    return tuple(out)


def counts(items: Iterable[PlanItem]) -> dict[str, int]:
    """How many items per action, in a fixed order."""
    out = dict.fromkeys(ACTIONS, 0)
    for item in items:
        out[item.action] += 1
    return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class Estimate:
    """What a plan will spend: renders, credits and POSTs."""

    renders: int
    credits: int
    posts: int

    def post_seconds(self, rate: tuple[int, float]) -> float:
        """The time the POST budget implies: one window per `limit` POSTs begun."""
        limit, window = rate
        return -(-self.posts // limit) * window


def estimate(items: Iterable[PlanItem], records: Mapping[str, Mapping[str, Any]],
             shares_products: bool) -> Estimate:
    """Renders, credits (JoggAI: 1 credit per 2 minutes of video, at least 1, so 1 per
    15/30/60 s render) and POSTs: a product create and a render per video, the create
    shared by a product's variants with equal url and details where the API allows it."""
    renders = posts = 0
    products: set[tuple[str, str]] = set()
    done: set[tuple[str, str]] | None = None  # read only when a create may be shared
    for item in items:
        if item.video is None or item.action not in (*FRESH, Action.RESUME):
            continue
        record = records.get(item.key) or {}
        steps = {} if item.action in FRESH else record.get("steps") or {}
        if steps.get("render") == "inflight":
            continue  # looked for, not sent again
        renders += 1
        if steps.get("create") == "done":
            continue
        product = _product_of(item.key, {"inputs": item.video.inputs()})
        if not shares_products:
            posts += 1
        elif product not in products:
            if done is None:
                done = {_product_of(k, r) for k, r in records.items()
                        if (r.get("steps") or {}).get("create") == "done"
                        and r.get("status") != Status.FAILED}
            if product not in done:
                products.add(product)
                posts += 1
    return Estimate(renders, renders, posts + renders)


def post_rate(option: tuple[int, float] | None, manifest: tuple[int, float] | None,
              scale: float = 1.0) -> tuple[int, float]:
    """The POST budget a run keeps: `--post-rate` as given, else the manifest's or JoggAI's
    20 a minute, its window shortened by the sandbox's time scale."""
    if option:
        return option
    limit, window = manifest or (20, 60.0)
    return limit, window / scale


def _product_of(key: str, record: Mapping[str, Any]) -> tuple[str, str]:
    """What decides whether two videos can share one remote product."""
    inputs = record.get("inputs") or {}
    return key.split("/", 1)[0], repr((inputs.get("url"), inputs.get("details")))
