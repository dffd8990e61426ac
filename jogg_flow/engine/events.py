"""What a run tells as it goes: one typed dict per event kind.

The engine and the app produce them, `ui.progress` shows them (a JSON line each with
`--output json`), and mypy checks every producer against these shapes. The outside contract
is `schemas/events.schema.json` (tests validate the JSON lines against it); change both
together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypedDict


class _Plan(TypedDict):
    event: Literal["plan"]
    key: str
    action: str


class PlanEvent(_Plan, total=False):
    """What apply will do for a video (as `plan` says it)."""

    changes: list[str]
    detail: str


class StepEvent(TypedDict):
    """A video's create, update or render request is being sent."""

    event: Literal["step"]
    key: str
    step: str


class _Retry(TypedDict):
    event: Literal["retry"]
    reason: str


class RetryEvent(_Retry, total=False):
    """A request is tried again (`route` and `delay` from the client, `key` and `step` from
    the engine)."""

    key: str
    step: str
    route: str
    delay: float


class PollEvent(TypedDict):
    """A status read of a submitted render."""

    event: Literal["poll"]
    key: str
    remote_status: str
    progress: int


class _Adopted(TypedDict):
    event: Literal["adopted"]
    key: str
    project_id: str
    remote_status: str


class AdoptedEvent(_Adopted, total=False):
    """A render whose answer was lost, found at the API and taken as this video's; adopting
    a needs-check video says the `evidence` that showed it (shown without -v)."""

    evidence: str


class OrphanEvent(TypedDict):
    """A product made whose answer was lost (harmless: never rendered)."""

    event: Literal["orphan"]
    key: str
    url: str


class WarningEvent(TypedDict):
    """Something the user should know; the run goes on."""

    event: Literal["warning"]
    message: str


class _Video(TypedDict):
    event: Literal["video"]
    key: str
    status: str


class VideoEvent(_Video, total=False):
    """A video's outcome in this run (a `Status` word)."""

    project_id: str
    video_url: str
    message: str
    credits: float  # what JoggAI deducted for its render, where it says (v2)


class _Download(TypedDict):
    event: Literal["download"]
    key: str
    file: str
    bytes: int
    status: str


class DownloadEvent(_Download, total=False):
    """A finished video's or cover's file fetched (or not) by `--download`."""

    message: str


class PreflightEvent(TypedDict):
    """The free reads before the first POST: the account, its credit, the plan's cost."""

    event: Literal["preflight"]
    account: str | None
    credits: float | None
    renders: int
    credits_needed: int
    posts: int
    message: str


class _Summary(TypedDict):
    event: Literal["summary"]
    counts: dict[str, int]
    requests: int
    exit_code: int
    message: str


class SummaryEvent(_Summary, total=False):
    """The run's last word: outcomes counted, requests made, the exit code, and the credits
    JoggAI deducted (None where it does not say) beside the plan's estimate."""

    credits_charged: float | None
    credits_estimated: int
    adopted: int
    rerendered_unseen: int


Event = (PlanEvent | StepEvent | RetryEvent | PollEvent | AdoptedEvent | OrphanEvent | WarningEvent
         | VideoEvent | DownloadEvent | PreflightEvent | SummaryEvent)
Emit = Callable[[Event], None]


def fields(event: Event) -> dict[str, Any]:
    """An event as plain data, for the code that shows any kind of it."""
    return dict(event)
