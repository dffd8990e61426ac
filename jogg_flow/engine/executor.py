"""Runs a plan: the only code that calls the API and writes state.

Videos move through create -> update -> render on a pool of `parallelism` workers; once a
render is accepted the video is handed to one poller, which reads every waiting project
on its own schedule. Every POST is recorded as in flight before it is sent and as done
after, so a run killed at any instant resumes without paying for a render twice.
"""

from __future__ import annotations

import heapq
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..api.errors import (
    ApiError,
    Cancelled,
    InsufficientCredit,
    InvalidKey,
    NoPermission,
    NotFound,
    NotServed,
    OutcomeUnknown,
    ParameterError,
    Refused,
    ServerError,
    TransportError,
)
from ..api.generations import GENERATIONS
from ..errors import StateError
from ..manifest.model import Video
from ..state import Record, Store, status
from ..state.status import OK_STATUSES, Status
from .events import Emit, VideoEvent
from .planner import FRESH, Action, PlanItem, ago, epoch, ready_preview, same_product
from .uploads import Uploads

if TYPE_CHECKING:
    from ..api.http import HttpClient

# Errors that every later call would meet too: they stop the whole run. (A TransportError
# reaches here only after the client's retries: the API is out of reach. A Refused answer
# is not JoggAI's: a gateway, a proxy or a retired path, the same for every call.)
_FATAL = (InvalidKey, NoPermission, InsufficientCredit, TransportError, Refused)
_POLL_FATAL = (InvalidKey, NoPermission, Refused)
# Answers to a POST that say JoggAI did not carry it out (a bad key, no credit, a parameter
# error, no API access, a gateway's bare 401/403): nothing was made or charged, so the
# request is not in flight any more, and the next apply sends it once (never a needs-check).
REFUSALS = (InvalidKey, InsufficientCredit, NoPermission, ParameterError, Refused)
# Answers reading an accepted render that say "not there": JoggAI's 10104, or a bare 404
# (its GetResult guide documents a "Video Not Found (404)" case). Not proof of anything.
MISSING = (NotFound, NotServed)
_POST_ATTEMPTS = 4
# Status reads run on a few threads: one poller waiting on each answer in turn fell behind
# its schedule at N = 1000 (under 2 reads per video where 5 were due, #15). GETs are free
# of the POST budget; each video is still read on its own schedule, by one thread at a time.
POLLERS = 4


@dataclass
class Options:
    """How `apply` runs. Times are seconds."""

    parallelism: int = 4
    poll_interval: float = 15.0
    poll_max: float = 120.0
    timeout: float = 1800.0
    wait: bool = True
    # Reads of the evidence after a lost render answer, `poll_interval` apart: about two
    # minutes at JoggAI's pace, long enough for an accepted render to leave status 1.
    check_reads: int = 8
    # "Not found" reads in a row of a render JoggAI accepted before it is needs-check. They
    # follow the polling schedule's backoff: about ten minutes at JoggAI's pace, long enough
    # to rule out a read that came before the render was visible.
    missing_reads: int = 8
    # `--max-credits`: renders this run may send (JoggAI charges about 1 credit per render
    # of up to 2 minutes); None: no cap. Once reached, nothing more is submitted.
    max_renders: int | None = None
    # The manifest's folder: local media are read from its tree (engine.uploads).
    media_root: str = ""


@dataclass
class Outcome:
    """What happened to one video in this run."""

    key: str
    status: str  # a Status: pending, rendering, succeeded, failed, error, ...
    project_id: str | None = None
    video_url: str | None = None
    message: str = ""
    credits: float | None = None  # what JoggAI deducted for its render, where it says (v2)
    since: str | None = None  # a needs-check video: since when (the state's UTC stamp)

    def as_event(self) -> VideoEvent:
        """The outcome as a run tells it (a `video` event; empty fields left out)."""
        event: VideoEvent = {"event": "video", "key": self.key, "status": self.status}
        if self.project_id not in (None, ""):
            event["project_id"] = self.project_id
        if self.video_url:
            event["video_url"] = self.video_url
        if self.message:
            event["message"] = self.message
        if self.credits is not None:
            event["credits"] = self.credits
        return event


def is_ok(outcome: Outcome, wait: bool) -> bool:
    """Whether an outcome lets the run exit 0: a render left rendering is fine with
    --no-wait (a later apply collects it), not when the run waited (--timeout ran out)."""
    return outcome.status in OK_STATUSES or (not wait and outcome.status == Status.RENDERING)
# Actions of videos that need no work in this run (their outcome is the same word).
SETTLED = (Action.UP_TO_DATE, Action.ORPHANED, Action.NEEDS_CHECK, Action.FAILED)


class Stopped(Exception):
    """A worker noticed the run is stopping."""


class NeedsCheck(Exception):
    """A lost render answer whose evidence stayed ambiguous: the user settles it."""


class Executor:
    """Apply plan items with one client and one state."""

    command = "apply"  # the command that goes on with what a stopped run left

    def __init__(self, client: HttpClient, state: Store, options: Options, emit: Emit,
                 stop: threading.Event | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.state, self.options, self.emit = client, state, options, emit
        self.stop = stop or threading.Event()
        self.clock = clock
        self.fatal: ApiError | None = None
        # Set by a refusal every later render would meet (no credit left): nothing more is
        # submitted, but the renders JoggAI accepted are still collected.
        self.halted = threading.Event()
        self.halt_reason = ""  # why submitting was closed when it was not the API (--max-duration)
        self.capped = ""  # why submitting stopped at --max-credits, if it did
        self._renders_sent = 0  # render POSTs of this run that may have been charged
        self.state_error: StateError | None = None
        self.outcomes: dict[str, Outcome] = {}
        self.adopted: list[str] = []  # needs-check videos whose render this run's read showed
        self.rerendered: list[str] = []  # needs-check videos rendered again (--rerender-unseen-after)
        self._lock = threading.Condition()
        self._due: list[tuple[float, int, str]] = []
        self._polls: dict[str, dict[str, Any]] = {}
        self._seq = 0
        self._open = 0
        self._counted: set[str] = set()  # keys opened in this run (each ends with one outcome)
        self._product_locks: dict[str, threading.Lock] = {}
        self.uploads = Uploads(client, state, emit, options.media_root, self._check_stop)

    def run(self, items: list[PlanItem]) -> list[Outcome]:
        """Carry out every item; return one outcome per item, in plan order. A needs-check
        video's evidence is read again first (free reads): a render JoggAI shows is adopted
        and collected in this run."""
        work = []
        for item in self._recheck_all(items):
            if item.action in SETTLED:
                self._finish(item.key, settled(item, self.state.videos.get(item.key)))
            elif item.action == Action.WAIT:
                self._opened(item.key)
                self._watch(item.key)
            else:
                self._opened(item.key)
                work.append(item)
        self._drive(work)
        return [self.outcomes[i.key] for i in items if i.key in self.outcomes]

    def _opened(self, key: str) -> None:
        """Count a video this run works on (it ends with one outcome)."""
        self._open += 1
        self._counted.add(key)

    def _drive(self, work: list[Any]) -> None:
        """Submit `work` on the worker pool (`_guarded` each) while the pollers read what is
        rendering; return when every opened video has its outcome, or the run stops."""
        pollers = [threading.Thread(target=self._poll_loop, name=f"jogg-poller-{i}", daemon=True)
                   for i in range(POLLERS)]
        for poller in pollers:
            poller.start()
        with ThreadPoolExecutor(max(1, self.options.parallelism), "jogg-video") as pool:
            try:
                for item in work:
                    pool.submit(self._guarded, item)
                with self._lock:
                    while self._open > 0 and not self.stop.is_set():
                        self._lock.wait(0.2)
            finally:
                if self._open > 0:  # stopped, or interrupted by an exception (KeyboardInterrupt)
                    self.stop.set()
                    self.client.budget.cancel()  # queued POSTs give up; calls under way finish
        for key in list(self._polls):
            self._finish(key, Outcome(key, Status.RENDERING, (self.state.get(key) or {}).get("project_id"),
                                      message=f"stopped; the next {self.command} collects it"))
        deadline = time.monotonic() + 5
        for poller in pollers:
            poller.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- submission ------------------------------------------------------------------------

    def _guarded(self, item: PlanItem) -> None:
        """One video's submit steps; whatever happens, the video gets an outcome."""
        key = item.key
        try:
            self._attempt(item)
        except StateError as err:
            self._state_failed(key, err)
        except Exception as err:  # noqa: BLE001 - one video's bug must not stop the others
            self._finish(key, Outcome(key, Status.ERROR, message=f"internal error: {err!r}"))

    def _attempt(self, item: PlanItem) -> None:
        assert item.video is not None
        key = item.key
        try:
            self._check_stop()
            self._submit(item, item.video)
        except (Stopped, Cancelled):
            self._finish(key, self._stopped(key, self._why_not_sent()))
        except NeedsCheck as err:
            self._finish(key, self._needs_check(key, str(err)))
        except NotFound as err:
            # The product or project is gone at JoggAI: nothing was rendered or charged, and
            # only a fresh product can help; the next run makes one (no --retry-failed).
            message = self.describe(err) + f"; the next {self.command} starts from a fresh product"
            self._forget_product(key, err, message)
            self._finish(key, Outcome(key, Status.ERROR, message=message))
        except ApiError as err:
            if isinstance(err, InsufficientCredit):
                self._halt_for(err)
            elif isinstance(err, _FATAL):
                self._stop_for(err)
            self._record_error(key, self.describe(err))
            self._finish(key, Outcome(key, Status.ERROR, message=self.describe(err)))

    def _needs_check(self, key: str, message: str) -> Outcome:
        """The outcome of a video whose answer was lost and whose evidence says nothing yet."""
        record = self.state.get(key) or {}
        return Outcome(key, Status.NEEDS_CHECK, record.get("project_id"), message=message,
                       since=record.get("needs_check_since"))

    def _submit(self, item: PlanItem, video: Video) -> None:
        key = video.key
        record = self.state.get(key)
        if item.action in FRESH or record is None:
            old, record = record, _fresh(video, record, item.action)
            if self.client.shares_products and old is not None and same_product(old, video):
                _carry_product(old, record)  # a render-only change keeps its product
                if isinstance(old.get("previews"), dict):
                    record["previews"] = old["previews"]  # and the previews made on it
            self.state.put(key, record)
        self._product(video, record)
        if record["steps"].get("render") != "done":
            self._render(video, record)
        if not self.options.wait:
            self._finish(key, Outcome(key, Status.RENDERING, record["project_id"],
                                      message="--no-wait: a later apply collects it"))
            return
        self._watch(key)

    def _product(self, video: Video, record: Record) -> None:
        """The video's product made (or shared) and updated, once per product."""
        if self.client.shares_products:
            # One variant creates the product; the others wait here, then reuse it.
            with self._product_lock(video.product):
                self._product_steps(video, record)
        else:
            self._product_steps(video, record)

    def _product_steps(self, video: Video, record: Record) -> None:
        key, steps = video.key, record["steps"]
        if steps.get("create") != "done" and self.client.shares_products:
            self._share(video, record)
        if steps.get("create") != "done":
            self._create(video, record)
        if video.details and steps.get("update") != "done":
            self._check_stop()
            details = self.uploads.ready(video, record)  # local media: their hosted URLs
            self._step(key, "update")
            self.client.update_product(record["product_id"], details)
            steps["update"] = "done"
            self.state.put(key, record)

    def _share(self, video: Video, record: Record) -> None:
        """Reuse a sibling variant's product when its url and details are the same."""
        # Only this product's keys are read: a store may decode each record it hands out.
        keys = list(self.state.videos)  # one C-level copy: other workers put meanwhile
        for other_key in [k for k in keys if k != video.key and k.split("/", 1)[0] == video.product]:
            other = self.state.get(other_key)
            if other is not None and same_product(other, video) \
                    and other.get("product_id") not in record.get("gone_products", ()):
                _carry_product(other, record)
                record["shared_from"] = other_key
                self.state.put(video.key, record)
                return

    def _product_lock(self, product: str) -> threading.Lock:
        with self._lock:
            return self._product_locks.setdefault(product, threading.Lock())

    def _create(self, video: Video, record: Record) -> None:
        key, steps = video.key, record["steps"]
        last: ApiError | None = None
        for _ in range(_POST_ATTEMPTS):
            if steps.get("create") == "inflight":
                # An earlier request's answer was lost: it may have made a product we
                # will never learn the id of. Say so rather than hide it.
                record.setdefault("orphans", []).append({"url": video.url, "noted": _now()})
                self.emit({"event": "orphan", "key": key, "url": video.url})
            self._check_stop()
            steps["create"] = "inflight"
            self.state.put(key, record)
            self._step(key, "create")
            try:
                product_id, project_id = self.client.create_product(video.url)
            except OutcomeUnknown as err:
                self._retry_event(key, "create", err)
                last = err
                continue
            except REFUSALS as err:
                self._refused(key, record, "create", err)
                raise
            except Cancelled:  # queued for the budget when the run stopped: never sent
                steps.pop("create", None)
                self.state.put(key, record)
                raise
            record.update(product_id=product_id, project_id=project_id)
            steps["create"] = "done"
            self.state.put(key, record)
            return
        raise ApiError(f"product creation sent {_POST_ATTEMPTS} times without a clear answer "
                       f"(the last: {last})")

    def _render(self, video: Video, record: Record) -> None:
        key, steps = video.key, record["steps"]
        if steps.get("render") == "inflight":
            # A POST that may have left (its answer lost, or the run killed while it was
            # under way): never sent again on our own; only the evidence decides.
            return self._watch_unknown(key, record)
        self._check_stop()
        chosen = ready_preview(record, video) if GENERATIONS[self.client.version].previews else None
        if chosen is not None:
            # Made from the finished preview of its visual style: found again, if the answer
            # is lost, by the preview request's name, which the render carries.
            record["marker"] = chosen[1]["marker"]
            record["from_preview"] = {"style": chosen[0], "preview_id": chosen[1]["preview_id"]}
        # A name unique to this video, for finding the render again if its answer is
        # lost where the API has no other handle on it (v2).
        record.setdefault("marker", f"{key} [jf-{uuid.uuid4().hex[:12]}]")

        def in_flight() -> None:
            # Written once the POST holds its budget slot, just before it leaves: a run
            # stopped or killed while it queued has sent nothing it would have to look for.
            steps["render"] = "inflight"
            record["render_sent_at"] = _now()  # the age --rerender-unseen-after reads
            self.state.put(key, record)

        self._reserve_render()
        self._step(key, "render")
        try:
            if chosen is not None:
                project_id = self.client.render_preview(str(chosen[1]["preview_id"]), sending=in_flight)
            else:
                project_id = self.client.submit_render(record, video.render, sending=in_flight)
        except OutcomeUnknown as err:
            self._retry_event(key, "render", err)
            return self._watch_unknown(key, record)
        except REFUSALS as err:
            self._release_render()  # not carried out: nothing charged
            self._refused(key, record, "render", err)
            raise
        except (Cancelled, TransportError):
            # Certainly never sent (the run stopped while it queued for the budget, or
            # no connection): not a render to watch for.
            self._release_render()
            if steps.pop("render", None) is not None:
                self.state.put(key, record)
            raise
        self._accepted(key, record, project_id)

    def _reserve_render(self) -> None:
        """Count a render about to be sent against `--max-credits`; at the cap, submitting
        stops (the renders already accepted are still collected)."""
        cap = self.options.max_renders
        with self._lock:
            if cap is None or self._renders_sent < cap:
                self._renders_sent += 1
                return
            self.capped = self.capped or (f"--max-credits {cap} reached: {cap} render"
                                          f"{'s' if cap != 1 else ''} sent, nothing more submitted")
        self.halted.set()
        self.client.budget.cancel()
        raise Stopped

    def _release_render(self) -> None:
        with self._lock:
            self._renders_sent -= 1

    def _refused(self, key: str, record: Record, step: str, err: ApiError) -> None:
        """JoggAI refused the POST (see REFUSALS): it is not in flight, and the record says
        why, so `plan` can show it and the next apply sends it once."""
        record["steps"].pop(step, None)
        record["refused"] = {"step": step, "code": err.code, "http_status": err.http_status,
                             "reason": str(err), "at": _now()}
        self.state.put(key, record)

    def _forget_product(self, key: str, err: ApiError, message: str) -> None:
        """The record's product is gone at JoggAI: the next apply creates a fresh one."""
        record = self.state.get(key)
        if record is not None:
            if record.get("product_id") is not None:  # a sibling variant must not lend it back
                record.setdefault("gone_products", []).append(record["product_id"])
            record.update(product_id=None, project_id=None, steps={}, status=Status.PENDING,
                          error=message, refused={"step": "product", "code": err.code,
                                                  "http_status": err.http_status, "reason": message,
                                                  "at": _now()})
            record.pop("shared_from", None)
            self.state.put(key, record)

    def _watch_unknown(self, key: str, record: Record) -> None:
        """Read the evidence for a render whose answer was lost, over a bounded window
        (`check_reads` reads, `poll_interval` apart): accepted -> adopt; still ambiguous
        (G0/v1 status 1, a v2 name not found) -> needs-check, left to the user."""
        for n in range(max(1, self.options.check_reads)):
            if n and self.stop.wait(self.options.poll_interval):
                raise Stopped
            try:
                if self._adopt(key, record):
                    return
            except (TransportError, ServerError) as err:
                self._retry_event(key, "check", err)
        record.update(status=Status.NEEDS_CHECK, error="a render was sent but its answer was lost, "
                      "and JoggAI shows no sign of it yet")
        record.setdefault("needs_check_since", _now())
        self.state.put(key, record)
        raise NeedsCheck(record["error"])

    def _recheck_all(self, items: list[PlanItem]) -> list[PlanItem]:
        """The items, with each needs-check video whose evidence now shows its render turned
        into a `wait` (collected by this run); a `rerender` one whose evidence still says it
        never started left to be rendered again; the others needs-check, saying how long."""
        checks = [i for i in items if i.action in (Action.NEEDS_CHECK, Action.RERENDER)]
        if not checks:
            return items
        if not GENERATIONS[self.client.version].reads_evidence:
            # v1: nothing to read (the run says so once: app.online), so nothing to re-render on
            return [_kept(i, self.state.get(i.key)) if i.action == Action.RERENDER else i for i in items]
        silence: dict[str, str] = {}  # what this run's read says of each render not shown
        found = {i.key for i in checks if not self.stop.is_set() and self._recheck(i.key, silence)}
        out = []
        for item in items:
            if item.key in found:
                item = PlanItem(item.key, Action.WAIT, video=item.video)
            elif item.action == Action.RERENDER:
                item = self._unseen(item, silence.get(item.key))
            if item.action == Action.NEEDS_CHECK:
                record = self.state.get(item.key)
                item = replace(item, detail=_silent_since(record, item.detail, silence.get(item.key, "")))
            out.append(item)
        return out

    def _unseen(self, item: PlanItem, silent: str | None) -> PlanItem:
        """A needs-check due for `--rerender-unseen-after`: rendered again (a fresh render,
        the evidence in its history) only when this run's read (`silent`; None: it failed)
        says it never started; else it stays needs-check."""
        record = self.state.get(item.key)
        if record is None or self.stop.is_set() or silent is None:
            return _kept(item, record, "" if self.stop.is_set() else "its evidence could not be read now")
        if not silent:
            return _kept(item, record, "no read shows that it never started")
        history = record.get("history")
        record["history"] = [*(history if isinstance(history, list) else []), {
            "rerendered_unseen": f"{silent}, read at {_now()}; {item.detail}",
            "needed_check": record.get("error"), "marker": record.get("marker")}]
        self.state.put(item.key, record)
        self.rerendered.append(item.key)
        self.emit({"event": "warning", "message": f"{item.key}: {silent} since the POST at "
                   f"{record.get('render_sent_at') or '?'}: rendering it again (--rerender-unseen-after)"})
        return item

    def _recheck(self, key: str, silence: dict[str, str]) -> bool:
        """Read a needs-check video's evidence again, as when its answer was first lost:
        a render JoggAI accepted (a project past "never started", a v2 video found by its
        name, or an accepted render that reads again) is adopted, with the evidence in the
        record's history and the run's output. Otherwise `silence` keeps what the read said."""
        record = self.state.get(key)
        if record is None or record.get("status") != Status.NEEDS_CHECK:
            return False
        try:
            shown, silence[key] = read_evidence(self.client, record)
        except ApiError as err:
            self._retry_event(key, "check", err)
            return False
        if shown is None:
            return False
        project_id, evidence = shown
        history = record.get("history")
        record["history"] = [*(history if isinstance(history, list) else []),
                             {"adopted": f"{evidence}, read at {_now()}",
                              "needed_check": record.get("error")}]
        record.pop("error", None)
        self.adopted.append(key)
        self.emit({"event": "adopted", "key": key, "project_id": project_id, "remote_status": "accepted",
                   "evidence": evidence})
        self._accepted(key, record, project_id)
        return True

    def _adopt(self, key: str, record: Record) -> bool:
        """After an unknown outcome: if JoggAI shows the render, it was accepted."""
        project_id = self.client.find_render(record)
        if project_id is None:
            return False
        self.emit({"event": "adopted", "key": key, "project_id": project_id,
                   "remote_status": "accepted"})
        self._accepted(key, record, project_id)
        return True

    def _accepted(self, key: str, record: Record, project_id: str) -> None:
        record["project_id"] = project_id
        record["steps"]["render"] = "done"
        record.update(status=Status.RENDERING, submitted_at=_now())
        record.pop("refused", None)
        self.state.put(key, record)

    def describe(self, err: ApiError) -> str:
        """An API error as a video's line (and the run's last line) says it: once, naming
        the API it came from."""
        text, base = str(err), self.client.base_url
        return text if base in text else f"{text} [API {base}]"

    def _stop_for(self, err: ApiError) -> None:
        """An error every later call would meet: stop the run, send nothing more."""
        self.fatal = self.fatal or err
        self.stop.set()
        self.client.budget.cancel()

    def close_submissions(self, reason: str) -> None:
        """Submit nothing more from now on (`reason` says why), but go on collecting the
        renders JoggAI accepted, as after a refusal every render would meet."""
        self.halt_reason = self.halt_reason or reason
        self.halted.set()
        self.client.budget.cancel()

    def _halt_for(self, err: ApiError) -> None:
        """A refusal every later render would meet (no credit): submit nothing more, at
        once, but go on collecting the renders JoggAI accepted (they are paid for)."""
        self.fatal = self.fatal or err
        self.halted.set()
        self.client.budget.cancel()

    def stopped_by(self) -> str:
        """Why the run stopped submitting, with what the rest of the plan needs; "" if it did not."""
        if self.fatal is None:
            return self.capped
        text = self.describe(self.fatal)
        if isinstance(self.fatal, InsufficientCredit):
            unsent = sum(1 for k, o in self.outcomes.items()
                         if k in self._counted and o.status in (Status.PENDING, Status.ERROR))
            text += (f"; {unsent} video{'s' if unsent != 1 else ''} not rendered, needing about "
                     f"{unsent} credit{'s' if unsent != 1 else ''}: top up and apply again")
        return text

    def _why_not_sent(self) -> str:
        """What a video's line says when the run stopped before its render was sent."""
        if not self.halted.is_set():
            return "stopped; the next apply resumes it"
        why = self.fatal.msg if self.fatal else (self.capped or self.halt_reason)
        return f"not sent: submitting stopped ({why}); the next apply renders it"

    def _check_stop(self) -> None:
        if self.stop.is_set() or self.halted.is_set():
            raise Stopped

    def _step(self, key: str, step: str) -> None:
        self.emit({"event": "step", "key": key, "step": step})

    def _retry_event(self, key: str, step: str, err: ApiError) -> None:
        self.emit({"event": "retry", "key": key, "step": step, "reason": str(err)})

    def _state_failed(self, key: str, err: StateError) -> None:
        """The state cannot be written: stop at once; what was sent is reconciled next run."""
        self.state_error = self.state_error or err
        self.stop.set()
        self.client.budget.cancel()
        self._finish(key, self._stopped(key, str(err)))

    def _stopped(self, key: str, message: str) -> Outcome:
        """A video the run stopped: rendering once JoggAI accepted its render, else pending."""
        record = self.state.get(key)
        return Outcome(key, status.stopped(record), (record or {}).get("project_id"), message=message)

    def _record_error(self, key: str, message: str) -> None:
        record = self.state.get(key)
        if record is not None:
            record["error"] = message
            self.state.put(key, record)

    # -- polling ---------------------------------------------------------------------------

    def _watch(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            poll = self._polls.setdefault(key, {"n": 0, "since": now,
                                                "deadline": now + self.options.timeout})
            # Without waiting (--no-wait), a render from an earlier run is read once, now.
            delay = self.options.poll_interval if self.options.wait else 0.0
            self._schedule(key, poll, delay)

    def _schedule(self, key: str, poll: dict[str, Any], delay: float | None) -> None:
        if delay is None:
            opts = self.options
            delay = min(opts.poll_max, opts.poll_interval * 2 ** poll["n"])
            progress, elapsed = poll.get("progress", 0), self.clock() - poll["since"]
            if 0 < progress < 100:
                # Linear progress: aim just past the estimated finish.
                eta = elapsed * (100 - progress) / progress
                delay = min(opts.poll_max, max(opts.poll_interval, eta * 1.05))
        due = min(self.clock() + delay, poll["deadline"])
        self._seq += 1
        heapq.heappush(self._due, (due, self._seq, key))
        self._lock.notify_all()

    def _poll_loop(self) -> None:
        while True:
            with self._lock:
                while not self._due or self._due[0][0] > self.clock():
                    if self._open == 0 or self.stop.is_set():
                        return
                    timeout = self._due[0][0] - self.clock() if self._due else None
                    self._lock.wait(timeout if timeout is None else max(0.0, min(timeout, 1.0)))
                _, _, key = heapq.heappop(self._due)
                poll = self._polls[key]
            try:
                self._poll_once(key, poll)
            except StateError as err:
                self._state_failed(key, err)
            except Exception as err:  # noqa: BLE001 - the poller must outlive one bad answer
                self._finish(key, Outcome(key, Status.ERROR, message=f"internal error: {err!r}"))

    def _poll_once(self, key: str, poll: dict[str, Any]) -> None:
        record = self.state.get(key)
        assert record is not None
        try:
            info = self.client.project_info(record["project_id"])
        except MISSING as err:
            return self._missing(key, record, poll, err)
        except _POLL_FATAL as err:
            # A gateway's bare 401/403, a revoked key: every later read meets it too.
            self._stop_for(err)
            return self._finish(key, Outcome(key, Status.ERROR, record["project_id"],
                                             message=self.describe(err)))
        except ApiError as err:
            self._retry_event(key, "poll", err)
            return self._reschedule(key, record, poll)
        poll["n"] += 1
        poll.pop("missing", None)
        poll.pop("missing_since", None)
        if info.credits is not None:
            record["credits"] = info.credits  # what JoggAI says it deducted (v2)
        if info.status == "failed":
            record["status"] = Status.FAILED
            record["remote"] = {"status": "failed", "err_msg": info.err_msg}
            record["finished_at"] = _now()
            self.state.put(key, record)
            reason = record["remote"]["err_msg"] or "render failed"
            return self._finish(key, Outcome(key, Status.FAILED, record["project_id"], message=reason,
                                             credits=record.get("credits")))
        if info.status == "succeeded":
            record.update(status=Status.SUCCEEDED, finished_at=_now(), remote={"status": "succeeded"},
                          outputs={"video_url": info.video_url, "cover_url": info.cover_url,
                                   "duration": info.duration})
            record.pop("error", None)
            self.state.put(key, record)
            return self._finish(key, Outcome(key, Status.SUCCEEDED, record["project_id"], info.video_url,
                                             credits=record.get("credits")))
        poll["progress"] = info.progress
        self.emit({"event": "poll", "key": key, "remote_status": info.status,
                   "progress": info.progress})
        self._reschedule(key, record, poll)

    def _missing(self, key: str, record: Record, poll: dict[str, Any], err: ApiError) -> None:
        """A render JoggAI accepted read as "not found": a read that came too early, or a
        gateway's slip, never proof the render is gone (a new render would pay twice). It is
        read again on the polling schedule; after `missing_reads` such reads in a row the
        video is needs-check (never failed), for the user to settle."""
        poll["n"] += 1
        since = poll.setdefault("missing_since", self.clock())
        poll["missing"] = misses = poll.get("missing", 0) + 1
        if misses < max(1, self.options.missing_reads):
            self._retry_event(key, "poll", err)
            return self._reschedule(key, record, poll)
        record.update(status=Status.NEEDS_CHECK, error=(
            f"JoggAI accepted render {record['project_id']} but answered 'not found' {misses} times "
            f"over {self.clock() - since:.0f} s ({self.describe(err)})"))
        record.setdefault("needs_check_since", _now())
        self.state.put(key, record)
        self._finish(key, Outcome(key, Status.NEEDS_CHECK, record["project_id"], message=record["error"],
                                  since=record["needs_check_since"]))

    def _reschedule(self, key: str, record: Record, poll: dict[str, Any]) -> None:
        # A render read as "not found" lately is said so: it is not known to be rendering.
        misses = poll.get("missing")
        unseen = f"JoggAI answered 'not found' for it {misses} times; " if misses else ""
        if not self.options.wait:
            return self._finish(key, Outcome(key, Status.RENDERING, record["project_id"],
                                             message=f"{unseen}--no-wait: a later apply collects it"))
        if self.clock() >= poll["deadline"]:
            limit = f"--timeout {self.options.timeout:g} s"
            said = f"{unseen}{limit} ran out; a later apply reads it again" if unseen else \
                f"still rendering after {limit}; a later apply collects it"
            return self._finish(key, Outcome(key, Status.RENDERING, record["project_id"], message=said))
        with self._lock:
            self._schedule(key, poll, None)

    # -- bookkeeping -----------------------------------------------------------------------

    def _finish(self, key: str, outcome: Outcome) -> None:
        with self._lock:
            if key in self.outcomes:
                return
            self.outcomes[key] = outcome
            if key in self._counted:
                self._open -= 1
            self._lock.notify_all()
        self.emit(outcome.as_event())


def read_evidence(client: HttpClient, record: Record) -> tuple[tuple[str, str] | None, str]:
    """Free reads of a needs-check video's evidence: ((render id, what shows it) when JoggAI
    shows its render, else None; what the reads say otherwise: that it never started, or ""
    when they cannot say). An accepted render that read "not found" is read again; a lost
    answer is looked for (the project's status, the video list by name). Raises ApiError
    where a read fails."""
    if (record.get("steps") or {}).get("render") == "done" and record.get("project_id"):
        info = client.project_info(str(record["project_id"]))
        return (str(record["project_id"]), f"render {record['project_id']} reads '{info.status}' again"), ""
    found, silent = client.evidence(record)
    return (None, silent) if found is None else ((found, f"JoggAI shows render {found}"), "")


def shown_render(client: HttpClient, record: Record) -> tuple[str, str] | None:
    """(render id, what shows it) when JoggAI shows a needs-check video's render, else None."""
    return read_evidence(client, record)[0]


def _silent_since(record: Record | None, detail: str, silent: str = "") -> str:
    """A needs-check video's line: how long the evidence has said nothing, and what it says
    (`needs-check for 3 h: project … reads status 1 (start) since the POST at …`)."""
    record = record or {}
    since, sent = record.get("needs_check_since"), record.get("render_sent_at")
    start = epoch(since) if isinstance(since, str) else None
    if start is None:
        return detail
    age = ago(max(0.0, time.time() - start))
    if silent and isinstance(sent, str):
        return f"needs-check for {age}: {silent} since the POST at {sent}"
    return f"needs-check for {age} (since {since}): {detail}"


def _kept(item: PlanItem, record: Record | None, why: str = "") -> PlanItem:
    """A `rerender` item left needs-check (its record unchanged), saying why."""
    error = str((record or {}).get("error") or "a render's answer was lost")
    return replace(item, action=Action.NEEDS_CHECK,
                   detail=f"{error}; not rendered again" + (f": {why}" if why else ""))


def settled(item: PlanItem, record: Record | None) -> Outcome:
    """The outcome of an item that needs no call: up to date, or orphaned."""
    record = record or {}
    since = record.get("needs_check_since") if item.action == Action.NEEDS_CHECK else None
    return Outcome(item.key, item.action, record.get("project_id"),
                   (record.get("outputs") or {}).get("video_url"), item.detail,
                   since=since if isinstance(since, str) else None)


def _fresh(video: Video, old: Record | None, action: str) -> Record:
    history = []
    if old is not None:
        history = old.get("history", [])
        if old.get("project_id") or old.get("orphans"):
            keep = ("product_id", "project_id", "status", "outputs", "inputs", "remote",
                    "submitted_at", "finished_at", "orphans")
            history.append({**{k: old[k] for k in keep if k in old},
                            "replaced_at": _now(), "reason": action})
    fresh: Record = {"key": video.key, "tags": list(video.tags), "inputs": video.inputs(),
                     "product_id": None, "project_id": None, "steps": {}, "status": Status.PENDING,
                     "history": history}
    if old is not None and old.get("uploads"):
        fresh["uploads"] = old["uploads"]  # hosted local media outlive the product they went to
    return fresh


def _carry_product(source: Record, record: Record) -> None:
    record["product_id"] = source["product_id"]
    record["steps"]["create"] = "done"
    if source.get("steps", {}).get("update") == "done":
        record["steps"]["update"] = "done"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
