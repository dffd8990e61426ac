"""Executor events as the user sees them while `apply` runs.

Three forms: JSON lines (`--output json`, schema in `schemas/events.schema.json`), a live
view on a terminal (a block of active videos redrawn in place above which outcomes
scroll), and plain timestamped lines everywhere else (CI logs, pipes).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

EVENTS_VERSION = 1
_VERBOSE_ONLY = {"step", "poll", "plan", "adopted"}
_GOOD, _BAD = {"succeeded", "up-to-date", "submitted"}, {"failed", "error", "running", "interrupted"}
_LIVE_ROWS = 8


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
                 stop: threading.Event | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.output, self.stream, self.verbose, self.quiet = output, stream, verbose, quiet
        self.live = output == "text" and stream.isatty() and not quiet
        self.color = use_color(stream, environ)
        self._lock = threading.Lock()
        self.clock = clock
        self._start = clock()
        self._active: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._queued = 0
        self._drawn = 0
        self._last_draw = 0.0
        self._closed = threading.Event()
        self.stop = stop
        self.lost = False
        self.failure: str | None = None
        if self.live:
            # Polls can be two minutes apart: redraw each second so the clock keeps moving.
            threading.Thread(target=self._tick, name="jogg-progress", daemon=True).start()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self.lost:
                return
            try:
                self._handle(event)
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
        self._track(event)
        line = self._line(event)
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
                    self._erase()
                    self.stream.flush()
                except (OSError, ValueError):
                    self._lose()

    def _lose(self) -> None:
        self.lost = True
        self._closed.set()
        if self.stop is not None:
            self.stop.set()

    def _tick(self) -> None:
        while not self._closed.wait(1.0):
            with self._lock:
                if self._closed.is_set():
                    return
                try:
                    self._draw(force=True)
                except Exception:  # noqa: BLE001 - a dead thread would go unnoticed: stop the run
                    self._lose()

    # -- what to show ----------------------------------------------------------------------

    def _line(self, e: dict[str, Any]) -> str | None:
        kind, key = e.get("event"), e.get("key", "")
        if self.quiet and kind not in ("video", "summary"):
            return None
        if kind in _VERBOSE_ONLY and not self.verbose:
            return None
        if kind == "video":
            status = e["status"]
            tail = e.get("video_url") or e.get("message") or ""
            return f"{self._paint(f'{status:<11}', status)} {key}  {tail}".rstrip()
        if kind == "step":
            return f"{key}: {e['step']}"
        if kind == "poll":
            return f"{key}: {e['remote_status']} {e.get('progress', 0)}%"
        if kind == "plan":
            return f"{e['action']:<11} {key}"
        if kind == "retry":
            return self._paint("retry", "warn") + f" {key or e.get('route', '')}: {e.get('reason', '')}"
        if kind == "download":
            status = e["status"]
            tail = e.get("message") or f"{e['file']} ({e['bytes']} bytes)"
            painted = self._paint(f"{status:<11}", "failed" if status == "failed" else "succeeded")
            return f"{painted} {key}  {tail}"
        if kind == "summary":
            return f"{e.get('message', '')} in {self.clock() - self._start:.1f}s"
        return f"{kind}: {e.get('message') or e.get('url') or ''} {key}".rstrip()

    def _track(self, e: dict[str, Any]) -> None:
        kind, key = e.get("event"), e.get("key", "")
        if kind == "plan" and e["action"] in ("create", "replace", "resume", "retry", "wait"):
            self._queued += 1
            self._active[key] = "waiting" if e["action"] == "wait" else "queued"
        elif kind == "step":
            self._active[key] = e["step"]
        elif kind == "poll":
            self._active[key] = f"{e['remote_status']} {e.get('progress', 0)}%"
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
        rows = [f"[{elapsed // 60}:{elapsed % 60:02d}] {done}/{self._queued} done  {counts}".rstrip()]
        active = sorted(self._active.items())
        rows += [f"  {key:<30} {phase}" for key, phase in active[:_LIVE_ROWS]]
        if len(active) > _LIVE_ROWS:
            rows.append(f"  … and {len(active) - _LIVE_ROWS} more")
        self.stream.write("\n".join(rows) + "\n")
        self._drawn = len(rows)
        self.stream.flush()
