"""One vocabulary for a video's status: what it is now, in every command's output.

`apply` outcomes, the heartbeat and live view, `outputs` and the gallery, `state list`
and `state show` and the events schema all speak these words (README, "Statuses"). Plan
*actions* (`create`, `wait`, ...) are verbs of what apply will do and are not statuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PENDING = "pending"  # no render accepted yet: never applied, or stopped before its render
QUEUED = "queued"  # during a run: waiting for a worker or the POST budget
SUBMITTING = "submitting"  # during a run: creating, updating, sending the render
RENDERING = "rendering"  # a render JoggAI accepted that has not finished
SUCCEEDED, FAILED, NEEDS_CHECK, ERROR = "succeeded", "failed", "needs-check", "error"
UP_TO_DATE, ORPHANED = "up-to-date", "orphaned"

# What a record of the state may say: the last four are outcomes of a run, never stored.
STATUSES = (PENDING, QUEUED, SUBMITTING, RENDERING, SUCCEEDED, FAILED, NEEDS_CHECK, ERROR,
            UP_TO_DATE, ORPHANED)

# Words earlier versions wrote into states or printed, read as today's word.
_OLDER = {"new": PENDING, "absent": PENDING, "submitted": RENDERING, "running": RENDERING,
          "waiting": RENDERING}


def of_record(record: Mapping[str, Any] | None) -> str:
    """The status a state record shows: `pending` for none (never applied) and for the
    words older versions wrote; a word this version does not know is shown as it is."""
    if not record:
        return PENDING
    status = str(record.get("status") or PENDING)
    if status == "interrupted":  # never stored by jogg-flow (an edited state): ask the steps
        return stopped(record)
    return _OLDER.get(status, status)


def stopped(record: Mapping[str, Any] | None) -> str:
    """The status of a video a run stopped before its end: `rendering` once JoggAI accepted
    its render (the next apply collects it), else `pending` (the next apply resumes it)."""
    return RENDERING if ((record or {}).get("steps") or {}).get("render") == "done" else PENDING
