"""Tables the user reads: the plan and the outputs. Formatting only."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .planner import Estimate, PlanItem, counts

_MARK = {"create": "+", "replace": "~", "resume": ">", "retry": "!", "wait": "…",
         "up-to-date": "=", "orphaned": "?", "needs-check": "‽"}


def settle_hint(manifest: str, key: str, same_state: bool = False) -> str:
    """The commands that settle a needs-check video (`same_state`: the run named its state
    with --state, which the commands need too; it is not repeated, as it may hold a password)."""
    tail = " (with the same --state)" if same_state else ""
    return (f"{key}: needs checking in JoggAI's dashboard: if the render is there, "
            f"`jogg-flow state adopt {manifest} {key} PROJECT_ID`; if not, "
            f"`jogg-flow state rerender {manifest} {key}`{tail}")


def plan_text(items: list[PlanItem], manifest: str = "MANIFEST") -> str:
    """The plan as a human reads it: one line per video, then the counts."""
    lines = []
    for item in items:
        extra = ""
        if item.changes:
            extra = "  (" + ", ".join(item.changes) + ")"
        elif item.detail:
            extra = f"  ({item.detail})"
        lines.append(f"{_MARK.get(item.action, ' ')} {item.action:<10} {item.key}{extra}")
        if item.action == "needs-check":
            lines.append("    " + settle_hint(manifest, item.key))
    summary = ", ".join(f"{n} {action}" for action, n in counts(items).items())
    lines.append(f"Plan: {summary or 'nothing selected'}.")
    return "\n".join(lines)


def estimate_text(est: Estimate, rate: tuple[int, float]) -> str:
    """What the plan will spend, in credits and in POST-budget time."""
    seconds = est.post_seconds(rate)
    span = f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
    return (f"Estimate: {est.renders} render{'s' if est.renders != 1 else ''} ≈ {est.credits} "
            f"credit{'s' if est.credits != 1 else ''} (1 per video up to 2 minutes); {est.posts} POSTs "
            f"≈ {span} at {rate[0]}/{rate[1]:g}s.")


OUTPUT_FIELDS = ("key", "project_id", "status", "video_url", "cover_url", "duration")


def outputs_rows(keys: Iterable[str], records: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per video: where its video is, from the state."""
    rows = []
    for key in keys:
        record = records.get(key) or {}
        outputs = record.get("outputs") or {}
        rows.append({"key": key, "project_id": record.get("project_id"),
                     "status": record.get("status", "absent"),
                     "video_url": outputs.get("video_url"), "cover_url": outputs.get("cover_url"),
                     "duration": outputs.get("duration")})
        if record.get("status") == "needs-check":
            rows[-1]["message"] = str(record.get("error") or "")
    return rows


def format_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    """Rows as json, csv or an aligned table."""
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, OUTPUT_FIELDS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    return table(OUTPUT_FIELDS, [[r[f] for f in OUTPUT_FIELDS] for r in rows])


def table(columns: Sequence[str], rows: list[list[Any]]) -> str:
    """An aligned plain-text table with upper-case headers."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)
