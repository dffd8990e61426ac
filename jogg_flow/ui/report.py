"""Tables the user reads: the plan and the outputs. Formatting only."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..api.generations import ASPECT_NAMES, ASPECT_SHAPES, DEFAULT_ASPECT_RATIO
from ..engine.planner import (
    CHANGES,
    FRESH,
    Action,
    Estimate,
    PlanItem,
    PreviewAction,
    PreviewEstimate,
    PreviewItem,
    counts,
)
from ..state import status
from ..state.status import Status
from ..text import printable

_MARK = {Action.CREATE: "+", Action.REPLACE: "~", Action.RESUME: ">", Action.RETRY: "!",
         Action.WAIT: "…", Action.UP_TO_DATE: "=", Action.ORPHANED: "?", Action.NEEDS_CHECK: "‽",
         Action.FAILED: "x", Action.RERENDER: "!"}


@dataclass(frozen=True)
class Again:
    """How the run a hint follows was started, so the command it suggests targets the same
    state: the manifest, `--sandbox`, and whether `--state` or `--api-base` were named (they
    are not repeated: a URL may hold a password)."""

    manifest: str = "MANIFEST"
    sandbox: bool = False
    named_state: bool = False
    named_base: bool = False

    def command(self, verb: str, *args: str) -> str:
        """`jogg-flow VERB MANIFEST ARGS [--sandbox]` (what else to repeat is `same`)."""
        return "`" + " ".join(["jogg-flow", verb, self.manifest, *args]
                              + (["--sandbox"] if self.sandbox else [])) + "`"

    @property
    def same(self) -> str:
        """' (with the same --state)': the named options a command must repeat, or ''."""
        named = [flag for flag, on in (("--state", self.named_state), ("--api-base", self.named_base)) if on]
        return f" (with the same {' and '.join(named)})" if named else ""


def settle_hint(manifest: str, key: str, same_state: bool = False, again: Again | None = None) -> str:
    """The commands that settle a needs-check video (`same_state`: the run named its state
    with --state, which the commands need too; it is not repeated, as it may hold a password)."""
    again = again or Again(manifest, named_state=same_state)
    key = printable(key)
    return (f"{key}: needs checking in JoggAI's dashboard: if the render is there, "
            f"{again.command('state adopt', key, 'PROJECT_ID')}; if not, "
            f"{again.command('state rerender', key)}{again.same}")


def retry_hint(manifest: str, key: str, same_state: bool = False, again: Again | None = None) -> str:
    """How to render a failed video again: never done on its own (JoggAI charged the failed
    render and refunds nothing; a failure that repeats would be paid on every apply)."""
    again = again or Again(manifest, named_state=same_state)
    return (f"{key}: kept failed; to render it again (a new render that costs credits): "
            f"{again.command('apply', '--retry-failed', '--select', key)}{again.same}")


_EACH = 3  # up to this many videos get a line each; more are said in one line


def run_hints(outcomes: Sequence[tuple[str, str]], again: Again, stopped: bool) -> list[str]:
    """What to do next after a run, from its (key, status) outcomes: the command that settles
    or retries each kind of video left behind, folded into one line when there are many."""
    by: dict[str, list[str]] = {}
    for key, state in outcomes:
        by.setdefault(state, []).append(printable(key))
    lines: list[str] = []
    checks, failed = by.get(Status.NEEDS_CHECK, []), by.get(Status.FAILED, [])
    errors = by.get(Status.ERROR, [])
    if len(checks) <= _EACH:
        lines += [settle_hint(again.manifest, k, again=again) for k in checks]
    else:
        lines.append(f"{_count(checks)} need checking in JoggAI's dashboard ({_some(checks)}): "
                     f"{again.command('state adopt', 'KEY', 'PROJECT_ID')} each render that is there, "
                     f"{again.command('state rerender', 'KEY')} the others{again.same}")
    if len(failed) <= _EACH:
        lines += [retry_hint(again.manifest, k, again=again) for k in failed]
    else:
        lines.append(f"{_count(failed)} kept failed ({_some(failed)}); to render them again (new "
                     f"renders that cost credits): {again.command('apply', '--retry-failed')}{again.same}")
    if errors:
        lines.append(f"{_count(errors)} stopped by an API error ({_some(errors)}), nothing paid twice: "
                     f"{again.command('apply')} tries {_them(errors)} again{again.same}")
    left = [k for s in (Status.RENDERING, Status.PENDING, Status.QUEUED, Status.SUBMITTING)
            for k in by.get(s, [])]
    if left:
        lines.append(f"{_count(left)} not finished ({_some(left)}): {again.command('apply')} "
                     f"{'resumes' if stopped else 'collects'} {_them(left)} without paying again{again.same}")
    orphans = by.get(Status.ORPHANED, [])
    if orphans:
        keys = orphans if len(orphans) <= _EACH else ["KEY"]
        lines.append(f"{_count(orphans)} in the state but no longer in the manifest ({_some(orphans)}), "
                     f"left alone: {again.command('state rm', *keys)} forgets {_them(orphans)} "
                     f"(nothing is deleted at JoggAI){again.same}")
    return lines


def rename_hint(old: str, new: str, again: Again) -> str:
    """An orphan and a new video with the same inputs: most likely a renamed key."""
    old, new = printable(old), printable(new)
    return (f"{old} → {new}: the same inputs, most likely a renamed key: "
            f"{again.command('state mv', old, new)} keeps its video (no new render){again.same}, "
            f"or say it in the manifest: `moved: [{{from: {old}, to: {new}}}]`")


def renamed(items: Sequence[PlanItem], records: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(old, new) for each orphaned record whose inputs are exactly a created video's."""
    created: dict[str, str] = {}
    for item in items:
        if item.action == Action.CREATE and item.video is not None:
            created.setdefault(json.dumps(item.video.inputs(), sort_keys=True, default=str), item.key)
    out = []
    for item in items:
        record = records.get(item.key)
        if item.action == Action.ORPHANED and record and isinstance(record.get("inputs"), dict):
            new = created.pop(json.dumps(record["inputs"], sort_keys=True, default=str), None)
            if new:
                out.append((item.key, new))
    return out


def _count(keys: Sequence[str]) -> str:
    return f"{len(keys)} video{'' if len(keys) == 1 else 's'}"


def _them(keys: Sequence[str]) -> str:
    return "it" if len(keys) == 1 else "them"


def _some(keys: Sequence[str]) -> str:
    return ", ".join(keys[:_EACH]) + (f", … {len(keys) - _EACH} more" if len(keys) > _EACH else "")


def plan_text(items: list[PlanItem], manifest: str = "MANIFEST", changes_only: bool = False) -> str:
    """The plan as a human reads it: one line per video (a replace's changed fields below it,
    old → new), then the counts. `changes_only` leaves out the videos apply would not touch."""
    lines = []
    for item in items:
        if changes_only and item.action not in CHANGES:
            continue
        extra = ""
        if item.changes and not item.diff:
            extra = "  (" + ", ".join(item.changes) + ")"
        elif item.detail:
            extra = f"  ({item.detail})"
        lines.append(f"{_MARK.get(item.action, ' ')} {item.action:<10} {item.key}{extra}")
        lines += [f"      {c.field}: {shorten(c.old)} → {shorten(c.new)}{_list_note(c.old, c.new)}"
                  for c in item.diff]
        if item.action in _COST:
            lines.append("      " + _COST[item.action])
        if item.action == Action.NEEDS_CHECK:
            lines.append("    " + settle_hint(manifest, item.key))
        if item.action == Action.FAILED:
            lines.append("    " + retry_hint(manifest, item.key))
    summary = ", ".join(f"{n} {action}" for action, n in counts(items).items())
    lines.append(f"Plan: {summary or 'nothing selected'}.")
    return "\n".join(printable(line) for line in lines)  # keys and values from the state and feeds


# Said under the actions that pay for a render again, so a reviewer sees what a change costs.
_COST = {Action.REPLACE: "a new render that costs credits; the previous video stays in the state's history",
         Action.RETRY: "a new render that costs credits; the failed one stays in the state's history",
         Action.RERENDER: "a new render that costs credits, and a second payment if JoggAI did accept the "
                          "first; the lost one stays in the state's history"}
_SHORT = 40


def shorten(value: Any) -> str:
    """A value in a few characters: strings quoted and cut to ~40 characters with …, lists
    and mappings by their size, an absent field as (none)."""
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return f"{len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return f"{len(value)} field{'' if len(value) == 1 else 's'}"
    if isinstance(value, str):
        text = value if len(value) <= _SHORT else value[:_SHORT - 1] + "…"
        return json.dumps(text, ensure_ascii=False)
    return json.dumps(value)


def _list_note(old: Any, new: Any) -> str:
    """Two lists of one size say nothing by their sizes: count the items that differ."""
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        differ = sum(1 for a, b in zip(old, new, strict=True) if a != b)
        return f" ({differ} changed)"
    return ""


DEFAULT_ORIENTATION = (f"{ASPECT_NAMES[DEFAULT_ASPECT_RATIO]} "
                       f"({ASPECT_SHAPES[DEFAULT_ASPECT_RATIO]})")


def orientation_text(items: Iterable[PlanItem]) -> str:
    """The orientation the plan's renders take where the manifest sets none ("" if every
    render sets its own): one default for every API generation, JoggAI's documented one."""
    unset = [i.key for i in items if i.video is not None and (i.action in FRESH or i.action == Action.RESUME)
             and "aspect_ratio" not in i.video.render]
    if not unset:
        return ""
    return (f"Orientation: {len(unset)} video{'s' if len(unset) != 1 else ''} set no render.aspect_ratio: "
            f"rendered {DEFAULT_ORIENTATION}, the default for every api.version (JoggAI's documented one).")
def needs_check_text(record: Mapping[str, Any]) -> str:
    """A needs-check video's evidence, and since when it has said nothing more."""
    error = str(record.get("error") or "a render's answer was lost")
    since = record.get("needs_check_since")
    return f"{error} (needs-check since {since})" if isinstance(since, str) else error


def counted(n: float, word: str) -> str:
    """`1 render`, `2 renders`, `0.5 credits`: a number and its noun in agreement."""
    return f"{n:g} {word}{'' if n == 1 else 's'}"


def estimate_text(est: Estimate, rate: tuple[int, float], sandbox: bool = False) -> str:
    """What the plan will spend, in credits and in POST-budget time (the sandbox's own,
    faster budget with `sandbox`)."""
    seconds = est.post_seconds(rate)
    span = f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
    where = " (the sandbox's budget: it runs faster than JoggAI)" if sandbox else ""
    previewed = f", {est.from_previews} of them from a finished preview" if est.from_previews else ""
    return (f"Estimate: {counted(est.renders, 'render')} ≈ {counted(est.credits, 'credit')} "
            f"(1 per video up to 2 minutes{previewed}){_uploads(est.uploads)}; {counted(est.posts, 'POST')} "
            f"≈ {span} at {rate[0]}/{rate[1]:g}s{where}.")


_PREVIEW_MARK = {PreviewAction.SEND: "+", PreviewAction.WAIT: "…", PreviewAction.UP_TO_DATE: "=",
                 PreviewAction.NEEDS_CHECK: "‽", PreviewAction.BLOCKED: "x"}


def preview_text(items: Sequence[PreviewItem], est: PreviewEstimate, manifest: str = "MANIFEST") -> str:
    """`preview`'s plan: a line per video, then what it spends (0.5 credit per style)."""
    lines = [f"{_PREVIEW_MARK.get(i.action, ' ')} {i.action:<10} {i.key}"
             + (f"  ({i.detail})" if i.detail else "") for i in items]
    n: dict[str, int] = {}
    for item in items:
        n[item.action] = n.get(item.action, 0) + 1
    lines.append("Previews: " + ", ".join(f"{k} {a}" for a, k in n.items()) + ".")
    if est.previews:
        lines.append(f"Estimate: {counted(est.previews, 'preview')} ≈ {counted(est.credits, 'credit')} "
                     f"(0.5 each, JoggAI's price of a preview); {counted(est.posts, 'POST')}; then "
                     f"`jogg-flow apply {manifest}` renders each video's visual_style from its preview.")
    return "\n".join(printable(line) for line in lines)


def _uploads(n: int) -> str:
    """The plan's uploads of local media, free of credits: ", upload 2 files (free)"."""
    return f", upload {counted(n, 'file')} (free)" if n else ""


def credits_text(charged: float | None, estimated: int) -> str:
    """The run's cost beside the plan's estimate, for the summary ("" when nothing was planned
    and nothing charged)."""
    if charged is None and not estimated:
        return ""
    said = "not reported by JoggAI" if charged is None else f"{charged:g} charged by JoggAI"
    return f"credits: {said} (the plan's estimate: {estimated})"


OUTPUT_FIELDS = ("key", "project_id", "status", "video_url", "cover_url", "duration", "credits")


def outputs_rows(keys: Iterable[str], records: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per video: where its video is, from the state."""
    rows = []
    for key in keys:
        record = records.get(key) or {}
        outputs = record.get("outputs") or {}
        rows.append({"key": key, "project_id": record.get("project_id"),
                     "status": status.of_record(record),
                     "video_url": outputs.get("video_url"), "cover_url": outputs.get("cover_url"),
                     "duration": outputs.get("duration"), "credits": record.get("credits")})
        shown = previews_rows(record)
        if shown:
            rows[-1]["previews"] = shown
        chosen = record.get("from_preview")
        if isinstance(chosen, dict) and isinstance(chosen.get("style"), str):
            rows[-1]["from_preview"] = chosen["style"]
        if record.get("status") == Status.NEEDS_CHECK:
            rows[-1]["message"] = needs_check_text(record)
        elif record.get("status") == Status.FAILED:
            remote = record.get("remote")
            said = remote.get("err_msg") if isinstance(remote, dict) else None
            rows[-1]["message"] = str(record.get("error") or said or "")
    return rows


def previews_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A video's previews (v2), one row per style: its status, preview id, links and the
    credits JoggAI says it deducted (where it says)."""
    pv = record.get("previews")
    styles = pv.get("styles") if isinstance(pv, dict) else None
    if not isinstance(styles, dict):
        return []
    out = []
    for style, entry in styles.items():
        if isinstance(entry, dict):
            out.append({"style": str(style), "status": str(entry.get("status") or ""),
                        "preview_id": entry.get("preview_id"), "video_url": entry.get("video_url"),
                        "cover_url": entry.get("cover_url"), "credits": entry.get("credits"),
                        **({"message": str(entry["err_msg"])} if entry.get("err_msg") else {})})
    return out


def previews_table(rows: list[dict[str, Any]]) -> str:
    """The previews of every video, a line per style ("" when there are none)."""
    lines = [[r["key"], p["style"], p["status"], p.get("video_url") or p.get("message") or ""]
             for r in rows for p in r.get("previews") or ()]
    return table(("key", "preview style", "status", "preview"), lines) if lines else ""


def format_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    """Rows as json, csv or an aligned table."""
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, OUTPUT_FIELDS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
        return buf.getvalue().rstrip("\n")
    shown = previews_table(rows)
    return table(OUTPUT_FIELDS, [[r.get(f) for f in OUTPUT_FIELDS] for r in rows]) + (
        "\n\n" + shown if shown else "")


# What a spreadsheet takes for the start of a formula (OWASP, "CSV Injection").
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell that a spreadsheet shows and never runs: text starting like a
    formula gets a leading `'` (OWASP's advice; the csv module quotes the rest), and control
    characters are shown as escapes. Numbers stay numbers."""
    if not isinstance(value, str):
        return value
    text = printable(value)
    return "'" + text if text.startswith(_FORMULA) else text


def table(columns: Sequence[str], rows: list[list[Any]]) -> str:
    """An aligned plain-text table with upper-case headers."""
    cells = [["" if v is None else printable(str(v)) for v in row] for row in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)
