"""Desired videos against recorded state: what each video needs. Pure; no I/O."""

from __future__ import annotations

import calendar
import fnmatch
import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..api.generations import PREVIEW_CREDITS
from ..manifest.model import Video
from ..state.status import Status
from .events import PlanEvent
from .uploads import to_upload


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
    # A needs-check whose evidence stayed silent past --rerender-unseen-after: rendered again
    # unless a read at the start of the run shows it (it may pay twice; the user chose so).
    RERENDER = "rerender"

    def __str__(self) -> str:
        return self.value


ACTIONS = tuple(Action)
# Actions that start over from a fresh product and project (never render a project twice).
FRESH = (Action.CREATE, Action.REPLACE, Action.RETRY, Action.RERENDER)
# Actions that mean `apply` has something to do.
CHANGES = (Action.CREATE, Action.REPLACE, Action.RESUME, Action.RETRY, Action.WAIT, Action.RERENDER)
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
    from_preview: str = ""  # the finished preview its render is made from (v2), if any

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


@dataclass(frozen=True)
class Rerender:
    """`--rerender-unseen-after`: a needs-check whose render POST is older than `after`
    seconds (at `now`, seconds since the epoch) is rendered again, unless a read at the
    start of the run shows the render. Only a lost render answer qualifies: a render JoggAI
    accepted that then read "not found" is never rendered again on our own."""

    after: float
    now: float

    def due(self, record: Mapping[str, Any]) -> str:
        """Why `record` is rendered again under this rule (its silence, how long), or ""."""
        if (record.get("steps") or {}).get("render") != "inflight":
            return ""
        sent = record.get("render_sent_at") or record.get("needs_check_since")
        at = epoch(sent) if isinstance(sent, str) else None
        if at is None or self.now - at <= self.after:
            return ""
        age = self.now - at
        return (f"its render POST at {sent} ({ago(age)} ago) still shows nothing, over "
                f"--rerender-unseen-after {ago(self.after)}: rendered again unless the run's "
                "first read shows it; this may pay twice")


def epoch(stamp: str) -> float | None:
    """A state's UTC time stamp (2026-12-03T12:00:00Z) as seconds since the epoch; None if unreadable."""
    try:
        return float(calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def ago(seconds: float) -> str:
    """A span as a person says it: 40 s, 12 min, 3.5 h, 2.0 d."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{seconds / 86400:.1f} d".replace(".0 d", " d")


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
         select: Sequence[str] = (), retry_failed: bool = False,
         rerender: Rerender | None = None) -> list[PlanItem]:
    """The action for every selected video, then the recorded videos the manifest dropped.
    `retry_failed` (`--retry-failed`): render again the videos whose render JoggAI failed;
    `rerender` (`--rerender-unseen-after`): the settle rule for needs-check videos."""
    items = [item_for(v, records.get(v.key), retry_failed, rerender) for v in videos
             if selected(v.key, v.tags, select)]
    wanted = {v.key for v in videos}
    for key, record in records.items():
        if key not in wanted and selected(key, record.get("tags", ()), select):
            items.append(PlanItem(key, Action.ORPHANED, detail="no longer in the manifest; left alone"))
    return items


def item_for(video: Video, record: Mapping[str, Any] | None, retry_failed: bool = False,
             rerender: Rerender | None = None) -> PlanItem:
    """The action one video needs, given its record (or None)."""
    if record is None:
        return PlanItem(video.key, Action.CREATE, video=video)
    if record.get("status") == Status.NEEDS_CHECK:
        # A render that may have been paid for: never sent again (not even for a changed
        # manifest) until the user settles it, or the settle rule they chose says so.
        silent = rerender.due(record) if rerender else None
        if silent:
            return PlanItem(video.key, Action.RERENDER, video=video, detail=silent)
        return PlanItem(video.key, Action.NEEDS_CHECK, video=video,
                        detail=str(record.get("error") or "a render's answer was lost"))
    diff = changed_values(record.get("inputs", {}), video.inputs())
    if diff:
        chosen = _from_preview(record, video)
        return PlanItem(video.key, Action.REPLACE, tuple(c.field for c in diff), video,
                        detail=_said(chosen), diff=diff, from_preview=chosen[1] if chosen else "")
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
    chosen = _from_preview(record, video)
    return PlanItem(video.key, Action.RESUME, video=video,
                    detail="next: " + ", ".join(pending) + why + (f"; {_said(chosen)}" if chosen else ""),
                    from_preview=chosen[1] if chosen else "")


def _from_preview(record: Mapping[str, Any], video: Video) -> tuple[str, str] | None:
    """(style, preview id) of the finished preview the render will be made from, or None."""
    if not same_product(record, video):
        return None  # a fresh product: its previews are of the old one
    chosen = ready_preview(record, video)
    return (chosen[0], str(chosen[1]["preview_id"])) if chosen else None


def _said(chosen: tuple[str, str] | None) -> str:
    return f"render from preview '{chosen[0]}' ({chosen[1]})" if chosen else ""


# -- previews (v2) -------------------------------------------------------------------------

# Render settings a preview does not depend on: the style it previews is chosen per preview.
_NOT_PREVIEWED = ("visual_style",)


def preview_digest(video: Video) -> str:
    """What decides a video's previews: its page, details and render settings but the visual
    style. A preview made from other inputs is never rendered in this video's place."""
    render = {k: v for k, v in video.render.items() if k not in _NOT_PREVIEWED}
    text = json.dumps({"url": video.url, "details": video.details, "render": render},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def previews_of(record: Mapping[str, Any] | None, video: Video) -> Mapping[str, Any] | None:
    """The record's previews when they were made from `video`'s inputs on its product."""
    pv = (record or {}).get("previews")
    if not isinstance(pv, Mapping) or pv.get("digest") != preview_digest(video):
        return None
    if not record or pv.get("product_id") != record.get("product_id"):
        return None
    return pv


def style_entry(pv: Mapping[str, Any], style: str) -> tuple[str, Mapping[str, Any]] | None:
    """(the style as recorded, its entry): styles are compared case-insensitively."""
    styles = pv.get("styles")
    if not isinstance(styles, Mapping):
        return None
    for name, entry in styles.items():
        if str(name).lower() == style.lower() and isinstance(entry, Mapping):
            return str(name), entry
    return None


def ready_preview(record: Mapping[str, Any] | None, video: Video) -> tuple[str, Mapping[str, Any]] | None:
    """The finished preview of the video's `visual_style`, made from its inputs: the render
    `apply` sends from it (render_single_preview) instead of a fresh one."""
    style = video.render.get("visual_style")
    pv = previews_of(record, video)
    found = style_entry(pv, str(style)) if pv is not None and isinstance(style, str) else None
    if found is None or found[1].get("status") != Status.SUCCEEDED or not found[1].get("preview_id"):
        return None
    return found


class PreviewAction(str, Enum):
    """What `preview` will do for a video."""

    SEND = "preview"  # one POST previewing the styles it lacks
    WAIT = "wait"  # previews JoggAI accepted: collect them
    UP_TO_DATE = "up-to-date"
    NEEDS_CHECK = "needs-check"  # a preview POST's answer was lost: never sent again on its own
    BLOCKED = "blocked"  # its render's answer was lost: settled by apply first

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PreviewItem:
    """One video's preview action: the styles to send (SEND) and why."""

    key: str
    action: PreviewAction
    video: Video = field(compare=False)
    styles: tuple[str, ...] = ()
    detail: str = ""
    fresh_product: bool = False  # its product must be made (or made anew) first
    resend: bool = False  # `--retry-failed`: a lost request is sent again, not looked for

    def as_event(self) -> PlanEvent:
        """The item as a run tells it (a `plan` event)."""
        event: PlanEvent = {"event": "plan", "key": self.key, "action": self.action}
        if self.detail:
            event["detail"] = self.detail
        return event


def plan_previews(videos: Sequence[Video], records: Mapping[str, Mapping[str, Any]],
                  select: Sequence[str] = (), again: bool = False) -> list[PreviewItem]:
    """What `preview` does for each selected video that sets `render.preview_styles`: send
    the styles it has no preview of (made from its current inputs), wait for those under
    way, or nothing. `again` (`--retry-failed`) sends again the styles JoggAI failed or whose
    answer was lost."""
    out = []
    for video in videos:
        if not video.preview_styles or not selected(video.key, video.tags, select):
            continue
        record = records.get(video.key)
        status_ = (record or {}).get("status")
        if status_ == Status.NEEDS_CHECK or ((record or {}).get("steps") or {}).get("render") == "inflight":
            out.append(PreviewItem(video.key, PreviewAction.BLOCKED, video, detail=(
                "its render's answer was lost: `jogg-flow apply` reads the evidence first")))
            continue
        if status_ == Status.FAILED and not again:
            # A fresh product for its previews would leave the video pending: the next apply
            # would render it again without the user asking (--retry-failed).
            out.append(PreviewItem(video.key, PreviewAction.BLOCKED, video, detail=(
                "its last render failed and is kept: `apply --retry-failed` renders it again, or "
                "`preview --retry-failed` previews it from a fresh product")))
            continue
        fresh = record is None or not same_product(record, video)
        pv = None if fresh else previews_of(record, video)
        entries = {s: style_entry(pv, s) if pv is not None else None for s in video.preview_styles}
        retry = (Status.FAILED, Status.NEEDS_CHECK) if again else ()
        missing = tuple(s for s, e in entries.items() if e is None or e[1].get("status") in retry)
        lost = [s for s, e in entries.items() if e is not None and e[1].get("status") == Status.NEEDS_CHECK]
        sent = pv.get("inflight") if pv is not None else None
        if isinstance(sent, Mapping):
            asked = [str(s) for s in sent.get("styles") or ()]
            if again:
                styles = tuple(dict.fromkeys((*asked, *missing)))
                out.append(PreviewItem(video.key, PreviewAction.SEND, video, styles,
                                       f"send again the preview request whose answer was lost "
                                       f"({', '.join(asked)}); it may pay twice", resend=True))
                continue
            rest = tuple(s for s in missing if s not in asked)  # sent after the look, if any
            unseen = f"; unseen since {sent['unseen_since']}" if sent.get("unseen_since") else ""
            out.append(PreviewItem(video.key, PreviewAction.SEND, video, rest,
                                   f"look for the preview request sent before ({', '.join(asked)}){unseen}; "
                                   "never sent twice"))
        elif lost and not again:
            out.append(PreviewItem(video.key, PreviewAction.NEEDS_CHECK, video, detail=(
                f"a preview request's answer was lost ({', '.join(lost)}): never sent again on its "
                "own; `jogg-flow preview --retry-failed` sends it again (it may pay twice)")))
        elif missing:
            said = f"{len(missing)} style{'s' if len(missing) != 1 else ''}: {', '.join(missing)}"
            out.append(PreviewItem(video.key, PreviewAction.SEND, video, missing,
                                   said + ("" if not fresh else "; its product first"), fresh))
        elif any(e is not None and e[1].get("status") == Status.RENDERING for e in entries.values()):
            out.append(PreviewItem(video.key, PreviewAction.WAIT, video, detail="previews under way"))
        else:
            out.append(PreviewItem(video.key, PreviewAction.UP_TO_DATE, video))
    return out


def same_product(record: Mapping[str, Any], video: Video) -> bool:
    """Whether `record` holds a live remote product made from `video`'s url and details."""
    inputs = record.get("inputs") or {}
    return ((record.get("steps") or {}).get("create") == "done" and bool(record.get("product_id"))
            and record.get("status") != Status.FAILED and inputs.get("url") == video.url
            and inputs.get("details") == video.details)


@dataclass(frozen=True)
class PreviewEstimate:
    """What `preview` will spend: previews (0.5 credit each, JoggAI's pricing) and POSTs."""

    previews: int
    credits: float
    posts: int


def estimate_previews(items: Iterable[PreviewItem], shares_products: bool,
                      records: Mapping[str, Mapping[str, Any]]) -> PreviewEstimate:
    """One preview POST per video sent, plus its product's create (once per product where
    the API shares products), the uploads of its local media (free, one POST each);
    0.5 credit per style previewed."""
    previews = posts = 0
    products: set[tuple[str, str]] = set()
    updating: list[Video] = []
    for item in items:
        if item.action != PreviewAction.SEND or not item.styles:
            continue
        previews += len(item.styles)
        posts += 1
        record = None if item.fresh_product else records.get(item.key)
        if ((record or {}).get("steps") or {}).get("update") != "done":
            updating.append(item.video)
        if item.fresh_product:
            product = _product_of(item.key, {"inputs": item.video.inputs()})
            if not shares_products or product not in products:
                products.add(product)
                posts += 1
    return PreviewEstimate(previews, previews * PREVIEW_CREDITS, posts + to_upload(updating, records))


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
    from_previews: int = 0  # renders sent from a finished preview (render_single_preview)
    uploads: int = 0  # local media contents to upload (free; one POST each)

    def post_seconds(self, rate: tuple[int, float]) -> float:
        """The time the POST budget implies: one window per `limit` POSTs begun."""
        limit, window = rate
        return -(-self.posts // limit) * window


def estimate(items: Iterable[PlanItem], records: Mapping[str, Mapping[str, Any]],
             shares_products: bool) -> Estimate:
    """Renders, credits (JoggAI: 1 credit per 2 minutes of video, at least 1, so 1 per
    15/30/60 s render) and POSTs: a product create and a render per video, the create
    shared by a product's variants with equal url and details where the API allows it."""
    renders = posts = from_previews = 0
    updating: list[Video] = []  # whose product update (and its uploads) is still to come
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
        from_previews += bool(item.from_preview)
        if steps.get("update") != "done":
            updating.append(item.video)
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
    uploads = to_upload(updating, records)
    return Estimate(renders, renders, posts + renders + uploads, from_previews, uploads)


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
