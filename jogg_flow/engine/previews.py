"""`preview` runs: one POST previewing several visual styles of each video (v2), then the
previews collected as they finish.

A video's product is made (or reused) exactly as `apply` makes it, so the render that
follows a preview needs no new product. The preview POST is recorded in flight before it
leaves and done after, like a render: an answer lost is looked for in JoggAI's preview list
by the request's unique name, and a request that cannot be found is never sent again on
its own (its styles are needs-check; `preview --retry-failed` sends them again).
"""

from __future__ import annotations

import uuid
from typing import Any

from ..api.errors import ApiError, Cancelled, OutcomeUnknown, TransportError
from ..api.generations import PREVIEW_CREDITS
from ..manifest.model import Video
from ..state import Record
from ..state.status import Status
from .executor import _POLL_FATAL, REFUSALS, Executor, NeedsCheck, Outcome, Stopped, _fresh, _now
from .planner import PreviewAction, PreviewItem, preview_digest, previews_of, style_entry

_NO_WAIT = "--no-wait: a later preview collects them"


class Previewer(Executor):
    """Carry out preview items with one client and one state (the executor's pool, budget,
    stop and polling schedule; a video's outcome says how its previews ended)."""

    command = "preview"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.sent: set[str] = set()  # the names of the preview requests this run sent
        self._spent = 0.0  # credits of the preview requests this run sent (--max-credits)

    def charged(self, keys: list[str]) -> float | None:
        """What JoggAI says it deducted for this run's previews; None where it said nothing."""
        said = [e["credits"] for key in keys
                for e in (((self.state.get(key) or {}).get("previews") or {}).get("styles") or {}).values()
                if e.get("marker") in self.sent and isinstance(e.get("credits"), (int, float))]
        return float(sum(said)) if said else None

    def run_previews(self, items: list[PreviewItem]) -> list[Outcome]:
        """Every item's outcome, in plan order."""
        work = []
        for item in items:
            if item.action == PreviewAction.SEND:
                self._opened(item.key)
                work.append(item)
            elif item.action == PreviewAction.WAIT:
                self._opened(item.key)
                self._watch(item.key)
            else:
                self._finish(item.key, settled(item, self.state.get(item.key)))
        self._drive(work)
        return [self.outcomes[i.key] for i in items if i.key in self.outcomes]

    def _submit(self, item: Any, video: Video) -> None:  # a PreviewItem: its product, then one POST
        key = item.key
        record = self.state.get(key)
        if item.fresh_product or record is None:
            record = _fresh(video, record, "preview")
            self.state.put(key, record)
        self._product(video, record)
        self._send(video, record, list(item.styles), item.resend)
        if not self.options.wait:
            return self._finish(key, self._said(key, Status.RENDERING, _NO_WAIT))
        self._watch(key)

    def _stopped(self, key: str, message: str) -> Outcome:
        return self._said(key, Status.PENDING, message)

    def _needs_check(self, key: str, message: str) -> Outcome:
        return self._said(key, Status.NEEDS_CHECK, message)

    def _record_error(self, key: str, message: str) -> None:
        pass  # a preview's error is this run's outcome, not the video's

    def _send(self, video: Video, record: Record, styles: list[str], resend: bool = False) -> None:
        """One POST previewing `styles`; the answer's preview ids go into the record."""
        key = video.key
        pv = _current(record, video)
        if pv.get("inflight") and resend:  # `--retry-failed`: the user asked to send it again
            record.setdefault("history", []).append({"lost_preview_request": pv.pop("inflight"),
                                                     "sent_again_at": _now()})
        elif pv.get("inflight"):
            # A request an earlier run sent whose answer it never recorded (killed, or the
            # answer lost): looked for first, never sent again on its own.
            self._look_for(key, record, pv)
            # The plan left out what it asked for; what the look recorded is not sent again.
            styles = [s for s in styles if (e := style_entry(pv, s)) is None
                      or e[1].get("status") in (Status.FAILED, Status.NEEDS_CHECK)]
        if not styles:
            return
        marker = f"{key} [jf-p{uuid.uuid4().hex[:11]}]"
        self._check_stop()

        def in_flight() -> None:
            pv["inflight"] = {"marker": marker, "styles": styles, "at": _now()}
            self.state.put(key, record)

        cost = PREVIEW_CREDITS * len(styles)
        self._reserve_previews(cost)
        self._step(key, "preview")
        try:
            answers = self.client.submit_previews(record, video.render, styles, marker, sending=in_flight)
        except OutcomeUnknown as err:
            self._retry_event(key, "preview", err)
            return self._look_for(key, record, pv)
        except REFUSALS as err:
            self._reserve_previews(-cost)  # not carried out: nothing charged
            pv.pop("inflight", None)
            self._refused(key, record, "preview", err)
            raise
        except (Cancelled, TransportError):
            self._reserve_previews(-cost)
            if pv.pop("inflight", None) is not None:
                self.state.put(key, record)
            raise
        self.sent.add(marker)
        by_name = {s.lower(): s for s in styles}
        for answer in answers:
            style = by_name.get(answer.style.lower(), answer.style)
            pv["styles"][style] = _entry(marker, answer.preview_id, answer.err_msg)
        for style in styles:  # a style the answer left out was not previewed
            pv["styles"].setdefault(style, _entry(marker, None, "JoggAI's answer did not list this style"))
        pv.pop("inflight", None)
        record.pop("refused", None)
        self.state.put(key, record)

    def _reserve_previews(self, cost: float) -> None:
        """Count a preview request about to be sent against `--max-credits` (a negative cost
        gives back one that was not carried out); past the cap, submitting stops."""
        cap = self.options.max_renders
        with self._lock:
            if cost <= 0 or cap is None or self._spent + cost <= cap:
                self._spent += cost
                return
            self.capped = self.capped or (f"--max-credits {cap} reached: {self._spent:g} credits of "
                                          "previews sent, nothing more submitted")
        self.halted.set()
        self.client.budget.cancel()
        raise Stopped

    def _look_for(self, key: str, record: Record, pv: dict[str, Any]) -> None:
        """A preview POST whose answer was lost: JoggAI's preview list shows the previews it
        made under the request's unique name (read over a bounded window the first time,
        once on each later run). Not found: needs-check, and never sent again on its own."""
        sent = pv["inflight"]
        for n in range(1 if sent.get("unseen_since") else max(1, self.options.check_reads)):
            if n and self.stop.wait(self.options.poll_interval):
                raise Stopped
            try:
                found = self.client.find_previews(sent["marker"])
            except ApiError as err:
                self._retry_event(key, "check", err)
                continue
            if found:
                self._found(key, record, pv, found)
                return
        sent.setdefault("unseen_since", _now())
        self.state.put(key, record)
        raise NeedsCheck(f"preview request {sent['marker']!r} ({', '.join(sent['styles'])}): its answer was "
                         f"lost and JoggAI's preview list shows no sign of it since {sent['unseen_since']}; "
                         "never sent again on its own (`preview --retry-failed` sends it again, which may "
                         "pay twice)")

    def _found(self, key: str, record: Record, pv: dict[str, Any],
               found: list[tuple[str, str | None]]) -> None:
        """Take the previews a lost request made: by the style each names, or the one found
        for a request of one style. Otherwise they are paid for but not known by style: the
        request's styles are needs-check (and never rendered from)."""
        sent = pv.pop("inflight")
        asked = {s.lower(): s for s in sent["styles"]}
        named = {asked[s.lower()]: pid for pid, s in found if s is not None and s.lower() in asked}
        if not named and len(sent["styles"]) == 1 and len(found) == 1:
            named = {sent["styles"][0]: found[0][0]}
        self.emit({"event": "adopted", "key": key, "project_id": ",".join(pid for pid, _ in found),
                   "remote_status": "accepted"})
        for style in sent["styles"]:
            if style in named:
                pv["styles"][style] = _entry(sent["marker"], named[style], None)
            else:
                pv["styles"][style] = {
                    **_entry(sent["marker"], None, None), "status": Status.NEEDS_CHECK,
                    "found": [pid for pid, _ in found],
                    "err_msg": f"the answer was lost; JoggAI lists {len(found)} previews of this request "
                               "but not which style each is"}
        self.state.put(key, record)
        unknown = [s for s in sent["styles"] if s not in named]
        if unknown:
            raise NeedsCheck(f"preview request {sent['marker']!r}: the answer was lost and JoggAI's list "
                             f"does not say which preview is {', '.join(unknown)}; they are in its dashboard "
                             "(`preview --retry-failed` sends them again)")

    # -- polling ---------------------------------------------------------------------------

    def _poll_once(self, key: str, poll: dict[str, Any]) -> None:
        record = self.state.get(key)
        assert record is not None
        pv = record.get("previews") or {}
        styles = pv.get("styles") or {}
        waiting = {str(e["preview_id"]): s for s, e in styles.items()
                   if e.get("status") == Status.RENDERING and e.get("preview_id")}
        if waiting:
            try:
                infos = self.client.read_previews(set(waiting))
            except _POLL_FATAL as err:
                self._stop_for(err)
                return self._finish(key, Outcome(key, Status.ERROR, message=self.describe(err)))
            except ApiError as err:
                self._retry_event(key, "poll", err)
                return self._again(key, poll)
            poll["n"] += 1
            for preview_id, info in infos.items():
                entry = styles[waiting[preview_id]]
                if info.status == "succeeded":
                    entry.update(status=Status.SUCCEEDED, video_url=info.video_url, cover_url=info.cover_url,
                                 duration=info.duration, finished_at=_now())
                elif info.status == "failed":
                    entry.update(status=Status.FAILED, err_msg=info.err_msg or "preview failed")
                if info.credits is not None:
                    entry["credits"] = info.credits
            self.state.put(key, record)
            if any(e.get("status") == Status.RENDERING for e in styles.values()):
                self.emit({"event": "poll", "key": key, "remote_status": "processing", "progress": 0})
                return self._again(key, poll)
        self._finish(key, self._said(key, None, ""))

    def _again(self, key: str, poll: dict[str, Any]) -> None:
        if not self.options.wait:
            return self._finish(key, self._said(key, Status.RENDERING, _NO_WAIT))
        if self.clock() >= poll["deadline"]:
            return self._finish(key, self._said(key, Status.RENDERING, f"still rendering after --timeout "
                                                f"{self.options.timeout:g} s; a later preview collects them"))
        with self._lock:
            self._schedule(key, poll, None)

    def _said(self, key: str, status: str | None, message: str) -> Outcome:
        return said(key, self.state.get(key), status, message)


def settled(item: PreviewItem, record: Record | None) -> Outcome:
    """The outcome of a preview item that needs no call (up to date, needs-check, blocked)."""
    status = {PreviewAction.UP_TO_DATE: Status.UP_TO_DATE,
              PreviewAction.NEEDS_CHECK: Status.NEEDS_CHECK}.get(item.action, Status.PENDING)
    return said(item.key, record, status, item.detail)


def said(key: str, record: Record | None, status: str | None, message: str) -> Outcome:
    """A video's preview outcome: its styles' states, and `status` (None: from them)."""
    styles = ((record or {}).get("previews") or {}).get("styles") or {}
    ready = [s for s, e in styles.items() if e.get("status") == Status.SUCCEEDED]
    failed = [s for s, e in styles.items() if e.get("status") == Status.FAILED]
    if status is None:
        status = Status.SUCCEEDED if ready and not failed else Status.FAILED if failed else Status.PENDING
    parts = [f"{len(ready)} preview{'s' if len(ready) != 1 else ''} ready"] if styles else []
    if failed:
        parts.append("failed: " + ", ".join(f"{s} ({styles[s].get('err_msg') or 'failed'})"
                                            for s in failed))
    if message:
        parts.append(message)
    return Outcome(key, status, message="; ".join(parts))


def _current(record: Record, video: Video) -> dict[str, Any]:
    """The record's previews of `video`'s current inputs; previews of other inputs (or of
    another product) go to its history, and a new, empty set takes their place."""
    if previews_of(record, video) is not None:
        current: dict[str, Any] = record["previews"]
        return current
    old = record.get("previews")
    if isinstance(old, dict) and (old.get("styles") or old.get("inflight")):
        record.setdefault("history", []).append({"previews": old, "replaced_at": _now()})
    record["previews"] = {"digest": preview_digest(video), "product_id": record["product_id"], "styles": {}}
    made: dict[str, Any] = record["previews"]
    return made


def _entry(marker: str, preview_id: str | None, err_msg: str | None) -> dict[str, Any]:
    """A style's record: under way with its preview id, or failed with JoggAI's reason."""
    if preview_id:
        return {"preview_id": preview_id, "status": Status.RENDERING, "marker": marker, "sent_at": _now()}
    return {"preview_id": None, "status": Status.FAILED, "marker": marker, "sent_at": _now(),
            "err_msg": err_msg or "JoggAI did not preview this style"}
