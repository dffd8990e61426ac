"""One vocabulary for a video's status: what it is now, in every command's output.

`apply` outcomes, the heartbeat and live view, `outputs` and the gallery, `state list`
and `state show` and the events schema all speak these words (README, "Statuses"). Plan
*actions* (`create`, `wait`, ...) are verbs of what apply will do and are not statuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any


class Status(str, Enum):
    """A video's status. Each member is its word (`Status.NEEDS_CHECK == "needs-check"`),
    so it is stored, compared and printed as the word itself."""

    PENDING = "pending"  # no render accepted yet: never applied, or stopped before its render
    QUEUED = "queued"  # during a run: waiting for a worker or the POST budget
    SUBMITTING = "submitting"  # during a run: creating, updating, sending the render
    RENDERING = "rendering"  # a render JoggAI accepted that has not finished
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # JoggAI failed the render
    NEEDS_CHECK = "needs-check"  # a render's answer was lost: the user looks and settles it
    ERROR = "error"  # this run could not finish the video (an outcome, never stored)
    UP_TO_DATE = "up-to-date"  # an outcome: nothing to do
    ORPHANED = "orphaned"  # an outcome: in the state, no longer in the manifest

    def __str__(self) -> str:
        return self.value


# What a record of the state may say: the last four are outcomes of a run, never stored.
STATUSES = tuple(Status)
# Outcomes that let a run exit 0.
OK_STATUSES = (Status.SUCCEEDED, Status.UP_TO_DATE, Status.ORPHANED)
# Outcomes a person must act on: shown first, annotated as errors, JUnit failures.
PROBLEMS = (Status.FAILED, Status.ERROR, Status.NEEDS_CHECK)

# Words earlier versions wrote into states or printed, read as today's word.
_OLDER = {"new": Status.PENDING, "absent": Status.PENDING, "submitted": Status.RENDERING,
          "running": Status.RENDERING, "waiting": Status.RENDERING}


def of_record(record: Mapping[str, Any] | None) -> str:
    """The status a state record shows: `pending` for none (never applied) and for the
    words older versions wrote; a word this version does not know is shown as it is."""
    if not record:
        return Status.PENDING
    status = str(record.get("status") or Status.PENDING)
    if status == "interrupted":  # never stored by jogg-flow (an edited state): ask the steps
        return stopped(record)
    return _OLDER.get(status, status)


def stopped(record: Mapping[str, Any] | None) -> str:
    """The status of a video a run stopped before its end: `rendering` once JoggAI accepted
    its render (the next apply collects it), else `pending` (the next apply resumes it)."""
    done = ((record or {}).get("steps") or {}).get("render") == "done"
    return Status.RENDERING if done else Status.PENDING
