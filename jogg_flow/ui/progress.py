"""Executor events as the user sees them while `apply` runs.

Three forms: JSON lines (`--output json`, schema in `schemas/events.schema.json`), a live
view on a terminal (a block of active videos redrawn in place above which outcomes
scroll), and plain timestamped lines everywhere else (CI logs, pipes).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from ..api.budget import Waits
from ..engine.events import Event, fields
from ..state.status import Status
from ..text import printable

EVENTS_VERSION = 2  # 2: the `video` event speaks jogg_flow.status (pending, rendering, ...)
_VERBOSE_ONLY = {"step", "poll", "plan", "adopted"}
_GOOD, _BAD = {Status.SUCCEEDED, Status.UP_TO_DATE}, {Status.FAILED, Status.ERROR}
_LIVE_ROWS = 8
_POSTS_PER_VIDEO = 2  # create and render (an update only with details): a video still to submit
# How long a render takes until this run has timed one (JoggAI's renders take minutes; the
# CLI passes the sandbox's own, 60 times faster). v1 reports no progress: its ETA rests on it.
TYPICAL_RENDER = 300.0
_KEY_COLUMN = 30  # the live view's key column, narrower (keys cut in the middle) on a narrow screen


def use_color(stream: IO[str], environ: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in environ and environ.get("TERM") != "dumb"


class Reporter:
    """Callable sink for executor events; thread-safe, and it never raises.

    Output that cannot be written (a closed pipe: `apply ... | head -1`, a terminal gone)
    sets `lost` and the `stop` event, so the run winds down as on Ctrl-C instead of a
    worker or the poller dying on the write while the main thread waits for it.
    """

    def __init__(self, output: str, stream: IO[str], *, verbose: int = 0, quiet: bool = False,
                 environ: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 stop: threading.Event | None = None, heartbeat: float = 30.0,
                 post_rate: tuple[int, float] | None = None, waits: Waits | None = None,
                 typical_render: float = TYPICAL_RENDER,
                 link: Callable[[str, str], str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.output, self.stream, self.verbose, self.quiet = output, stream, verbose, quiet
        self.live = output == "text" and stream.isatty() and not quiet
        self.color = use_color(stream, environ)
        self._lock = threading.Lock()
        self.clock = clock
        self._start = clock()
        self._active: dict[str, str] = {}
        self._eta = Eta(clock, post_rate, typical_render)
        self._notices: list[str] = []
        self._notice_stream: IO[str] = stream
        self._counts: dict[str, int] = {}
        self._queued = 0
        self._folded = 0  # up-to-date outcomes of a run that changes nothing, said in one line
        self._drawn = 0
        self._last_draw = 0.0
        self._closed = threading.Event()
        self.stop = stop
        self.waits = waits  # what the run waits for (the POST budget, a 429), said in the heartbeat
        self.link = link  # (key, video URL) -> what an outcome line shows (--sandbox: the kept file)
        self.lost = False
        self.failure: str | None = None
        if self.live:
            # Polls can be two minutes apart: redraw each second so the clock keeps moving.
            threading.Thread(target=self._tick, name="jogg-progress", daemon=True).start()
        elif output == "text" and not quiet and heartbeat > 0:
            # A CI log shows nothing between outcomes otherwise: renders take minutes.
            threading.Thread(target=self._beat, args=(heartbeat,), name="jogg-heartbeat",
                             daemon=True).start()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if self.lost:
                return
            try:
                self._handle(fields(event))
            except (OSError, ValueError):  # EPIPE, EIO, or a closed file
                self._lose()
            except Exception as err:  # noqa: BLE001 - emit runs on the workers and the poller:
                # raising here would end that thread; the CLI reports the first such bug at the end.
                self.failure = self.failure or f"cannot show a {event.get('event')} event: {err!r}"

    def _handle(self, event: dict[str, Any]) -> None:
        if self.output == "json":
            self._emit(json.dumps({"v": EVENTS_VERSION, "ts": round(time.time(), 3), **event},
                                  sort_keys=True))
            return
        # Keys, URLs and messages come from the state, feeds and API answers: shown, never obeyed.
        event = {k: printable(v) if isinstance(v, str) else v for k, v in event.items()}
        self._track(event)
        line = self._line(event)
        if line is not None and self.live and event.get("event") == "summary":
            # The "stopping" line, shown in the live block meanwhile, lands after the outcomes.
            self._erase()
            self._flush_notices()
        if line is not None:
            self._emit(line)
        elif self.live:
            self._draw(force=False)

    def close(self) -> None:
        """Clear the live block; the outcome lines above it stay."""
        self._closed.set()
        with self._lock:
            if self.live and not self.lost:
                try:
                    self._erase()  # the last frame: outcomes, notices (stopping…) and the summary
                    self._flush_notices()
                    self.stream.flush()
                except (OSError, ValueError):
                    self._lose()

    def _lose(self) -> None:
        self.lost = True
        self._closed.set()
        if self.stop is not None:
            self.stop.set()

    def notice(self, text: str, stream: IO[str]) -> None:
        """A message for another stream (stderr) that must survive the live view: on a
        terminal it shows in the block at once and is written out after the run's outcomes,
        before its summary, never erased. Safe to call from a signal handler (it takes no lock)."""
        if self.live and not self.lost:
            self._notices.append(text)
            self._notice_stream = stream
        else:
            stream.write(text + "\n")
            stream.flush()

    def _tick(self) -> None:
        while not self._closed.wait(1.0):
            self._locked(lambda: self._draw(force=True))

    def _beat(self, every: float) -> None:
        while not self._closed.wait(every):
            self._locked(lambda: self._emit(self._heartbeat()))

    def _locked(self, action: Callable[[], None]) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            try:
                action()
            except (OSError, ValueError):
                self._lose()
            except Exception as err:  # noqa: BLE001 - a dead thread would go unnoticed
                self.failure = self.failure or f"cannot show progress: {err!r}"

    def _heartbeat(self) -> str:
        """One line for logs: outcomes per status, videos per phase, and an ETA."""
        done = sum(self._counts.values())
        parts = [f"{done}/{self._queued} done" + (f" ({_join(self._counts)})" if self._counts else "")]
        phases: dict[str, int] = {}
        for phase in self._active.values():
            name = _phase_group(phase)
            phases[name] = phases.get(name, 0) + 1
        parts += [f"{n} {name}" + (" at JoggAI" if name == Status.RENDERING else "")
                  for name, n in phases.items()]
        eta = self._eta.remaining(self._active)
        parts.append(f"ETA {_clock(eta)}" if eta is not None else "ETA unknown")
        return "… " + ", ".join(parts) + self._waiting()

    def _waiting(self) -> str:
        """'; waiting for …': what holds the run back now, when something does: the POST
        budget (shared with other runs on the key, or a 429's pause), or else JoggAI's renders."""
        waits = self.waits.text() if self.waits is not None else ""
        if waits:
            return f"; {waits}"
        renders = sum(1 for phase in self._active.values() if _phase_group(phase) == Status.RENDERING)
        if renders and renders == len(self._active):
            return f"; waiting for JoggAI to finish {renders} render{'' if renders == 1 else 's'}"
        return ""

    # -- what to show ----------------------------------------------------------------------

    def _line(self, e: dict[str, Any]) -> str | None:
        kind, key = e.get("event"), e.get("key", "")
        if self.quiet and kind not in ("video", "summary"):
            return None
        if kind in _VERBOSE_ONLY and not self.verbose and not e.get("evidence"):
            return None  # (a needs-check adopted, with its evidence, is always said)
        if kind == "video":
            status = e["status"]
            if status == Status.UP_TO_DATE and not self._queued and not self.verbose:
                self._folded += 1  # nothing to do for it, in a run with nothing to do
                return None
            url = e.get("video_url")
            tail = (self.link(key, url) if url and self.link else url) or e.get("message") or ""
            return f"{self._paint(f'{status:<11}', status)} {key}  {tail}".rstrip()
        if kind == "step":
            return f"{key}: {e['step']}"
        if kind == "poll":
            pct = int(e.get("progress") or 0)  # v1 reports none: no "0%" that never moves
            return f"{key}: {Status.RENDERING}{f' {pct}%' if pct else ''} (JoggAI: {e['remote_status']})"
        if kind == "plan":
            return f"{e['action']:<11} {key}"
        if kind == "retry":
            reason, route = str(e.get("reason", "")), str(e.get("route", ""))
            # The client's reasons start with their route already: said once.
            where = key or ("" if reason.startswith(route) else route)
            return self._paint("retry", "warn") + (f" {where}: " if where else " ") + reason
        if kind == "download":
            return self._download_line(e)
        if kind == "summary":
            if self._folded and self._folded == sum(self._counts.values()):
                n = self._folded
                return f"No changes: {n} video{'' if n == 1 else 's'} up to date."
            return f"{e.get('message', '')} in {self.clock() - self._start:.1f}s"
        return self._other(e)

    def _other(self, e: dict[str, Any]) -> str:
        """Any other event: a needs-check adopted with its evidence, a warning, an orphan."""
        kind, key = e.get("event"), e.get("key", "")
        if e.get("evidence"):
            painted = self._paint(f"{kind:<11}", Status.SUCCEEDED)
            return f"{painted} {key}  {e['evidence']} (it needed a check)"
        return f"{kind}: {e.get('message') or e.get('url') or ''} {key}".rstrip()

    def _download_line(self, e: dict[str, Any]) -> str:
        status, key = e["status"], e.get("key", "")
        if status == Status.FAILED:  # the download failed, not the video: said so, in one line
            return f"{self._paint('download failed:', 'warn')} {key}: {e.get('message') or e['file']}"
        return f"{self._paint(f'{status:<11}', Status.SUCCEEDED)} {key}  {e['file']} ({e['bytes']} bytes)"

    def _track(self, e: dict[str, Any]) -> None:
        kind, key = e.get("event"), e.get("key", "")
        self._eta.track(e)
        if kind == "plan" and e["action"] in ("create", "replace", "resume", "retry", "rerender", "wait"):
            self._queued += 1
            self._active[key] = Status.RENDERING if e["action"] == "wait" else Status.QUEUED
        elif kind == "step":
            self._active[key] = f"{Status.SUBMITTING}: {e['step']}"
        elif kind == "poll":
            self._active[key] = str(Status.RENDERING)  # its figure and time are drawn from the Eta
        elif kind == "video":
            self._active.pop(key, None)
            self._counts[e["status"]] = self._counts.get(e["status"], 0) + 1

    def _paint(self, text: str, status: str) -> str:
        if not self.color:
            return text
        code = "32" if status in _GOOD else "31" if status in _BAD else "33"
        return f"\033[{code}m{text}\033[0m"

    # -- output ----------------------------------------------------------------------------

    def _emit(self, line: str) -> None:
        if self.live:
            self._erase()
            self.stream.write(line + "\n")
            self._draw(force=True)
        else:
            stamp = "" if self.output == "json" else time.strftime("%H:%M:%S ")
            self.stream.write(stamp + line + "\n")
        self.stream.flush()

    def _erase(self) -> None:
        if self._drawn:
            self.stream.write(f"\033[{self._drawn}F\033[J")
            self._drawn = 0

    def _draw(self, force: bool) -> None:
        now = self.clock()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self._erase()
        done = sum(self._counts.values())
        elapsed = int(now - self._start)
        counts = "  ".join(f"{n} {k}" for k, n in self._counts.items())
        eta = self._eta.remaining(self._active)
        # The ETA goes first: a narrow screen crops the end of a row.
        rows = [f"[{elapsed // 60}:{elapsed % 60:02d}]{f' ETA {_clock(eta)}' if eta is not None else ''} "
                f"{done}/{self._queued} done  {counts}".rstrip()]
        waits = self.waits.text() if self.waits is not None else ""
        if waits:
            rows.append(f"  {waits}")
        rows += list(self._notices)  # said in the block now, written out after the outcomes
        active = sorted(self._active.items())
        # Each row must stay one line on the screen, or moving up by `_drawn` lines leaves
        # stale frames behind: crop to the width as it is now (the terminal may have been resized).
        width = self._width()
        for key, phase in active[:_LIVE_ROWS]:
            phase = self._phase_text(key, phase)
            column = max(8, min(_KEY_COLUMN, width - 5 - len(phase)))  # the status stays in view
            rows.append(f"  {middle(key, column):<{column}} {phase}")
        if len(active) > _LIVE_ROWS:
            rows.append(f"  … and {len(active) - _LIVE_ROWS} more")
        self.stream.write("\n".join(_crop(row, width) for row in rows) + "\n")
        self._drawn = len(rows)
        self.stream.flush()

    def _phase_text(self, key: str, phase: str) -> str:
        """A rendering video's phase with its figure (where JoggAI gives one) and its time so
        far, and without a figure (v1) the typical time it is measured against."""
        if _phase_group(phase) != Status.RENDERING or key not in self._eta.rendering_since:
            return phase
        spent = _clock(self.clock() - self._eta.rendering_since[key])
        pct = self._eta.progress.get(key, 0)
        if pct:
            return f"{Status.RENDERING} {pct}% {spent}"
        return f"{Status.RENDERING} {spent} (typically {_clock(self._eta.typical())})"

    def _flush_notices(self) -> None:
        while self._notices:
            text = self._notices.pop(0)
            self.stream.flush()
            self._notice_stream.write(text + "\n")
            self._notice_stream.flush()

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            return shutil.get_terminal_size().columns


def _crop(row: str, width: int) -> str:
    # One column spare: writing the last column leaves some terminals waiting to wrap.
    limit = max(width - 1, 1)
    return row if len(row) <= limit else row[:limit - 1] + "…"


def middle(text: str, width: int) -> str:
    """`text` in at most `width` characters, cut in the middle (a long key keeps its start
    and its distinctive end: `kkkkkkkkkk…kkk-abc`)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def _join(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items())


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _phase_group(phase: str) -> str:
    """The live view's detailed phase ("submitting: create", "rendering 40%") as a
    heartbeat counts it: its status word."""
    word = phase.split(":", 1)[0].split(" ", 1)[0]
    return word if word in (Status.QUEUED, Status.SUBMITTING) else Status.RENDERING


class Eta:
    """Time left, from the POST budget (videos still to submit) and render progress
    (renders in flight, extrapolated from their elapsed time and JoggAI's percentage)."""

    def __init__(self, clock: Callable[[], float], post_rate: tuple[int, float] | None,
                 typical_render: float = TYPICAL_RENDER) -> None:
        self.clock, self.post_rate, self.typical_render = clock, post_rate, typical_render
        self.rendering_since: dict[str, float] = {}
        self.progress: dict[str, int] = {}
        self.render_times: list[float] = []

    def track(self, e: dict[str, Any]) -> None:
        """Note when renders start, how far they are, and how long finished ones took."""
        kind, key = e.get("event"), e.get("key", "")
        if kind == "step" and e.get("step") == "render":
            self.rendering_since[key] = self.clock()
        elif kind == "poll":
            self.rendering_since.setdefault(key, self.clock())
            self.progress[key] = int(e.get("progress") or 0)
        elif kind == "video":
            started = self.rendering_since.pop(key, None)
            self.progress.pop(key, None)
            if started is not None and e.get("status") == Status.SUCCEEDED:
                self.render_times.append(self.clock() - started)

    def remaining(self, active: Mapping[str, str]) -> float | None:
        """Seconds until every active video is done, or None when nothing is known yet."""
        now = self.clock()
        guesses = []
        for key, since in self.rendering_since.items():
            spent, pct = now - since, self.progress.get(key, 0)
            if 0 < pct < 100:
                guesses.append(spent * (100 - pct) / pct)
            elif not pct and key in self.progress:  # read, and no figure (v1): the typical time
                guesses.append(max(self.typical() - spent, 0.0))
        to_submit = sum(1 for phase in active.values() if _phase_group(phase) != Status.RENDERING)
        if to_submit and self.post_rate:
            n, window = self.post_rate
            guesses.append(to_submit * _POSTS_PER_VIDEO / max(n, 1) * window + self.typical())
        elif to_submit:
            return None  # videos still to submit, at an unknown pace
        return max(guesses) if guesses else None

    def typical(self) -> float:
        """How long a render takes: the mean of this run's, else the usual time."""
        return sum(self.render_times) / len(self.render_times) if self.render_times else self.typical_render
