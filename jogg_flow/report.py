"""Tables the user reads: the plan and the outputs. Formatting only."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from .planner import PlanItem, counts

_MARK = {"create": "+", "replace": "~", "resume": ">", "retry": "!", "wait": "…",
         "up-to-date": "=", "orphaned": "?"}


def plan_text(items: list[PlanItem]) -> str:
    """The plan as a human reads it: one line per video, then the counts."""
    lines = []
    for item in items:
        extra = ""
        if item.changes:
            extra = "  (" + ", ".join(item.changes) + ")"
        elif item.detail:
            extra = f"  ({item.detail})"
        lines.append(f"{_MARK.get(item.action, ' ')} {item.action:<10} {item.key}{extra}")
    summary = ", ".join(f"{n} {action}" for action, n in counts(items).items())
    lines.append(f"Plan: {summary or 'nothing selected'}.")
    return "\n".join(lines)


OUTPUT_FIELDS = ("key", "project_id", "status", "video_url", "cover_url", "duration")


def outputs_rows(keys: Iterable[str], records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per video: where its video is, from the state."""
    rows = []
    for key in keys:
        record = records.get(key) or {}
        outputs = record.get("outputs") or {}
        rows.append({"key": key, "project_id": record.get("project_id"),
                     "status": record.get("status", "absent"),
                     "video_url": outputs.get("video_url"), "cover_url": outputs.get("cover_url"),
                     "duration": outputs.get("duration")})
    return rows


def format_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    """Rows as json, csv or an aligned table."""
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, OUTPUT_FIELDS, lineterminator="\n")
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
