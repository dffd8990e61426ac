"""The POST budget: JoggAI allows a key 20 POSTs a minute, counted at its side."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import Cancelled


class Waits:
    """What a run is waiting for now, by cause ("budget", ...), for its heartbeat and live
    view to say: set by whoever waits, cleared when the wait is over. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: dict[str, str] = {}

    def set(self, cause: str, text: str) -> None:
        """`cause` waits, for the reason `text`."""
        with self._lock:
            self._now[cause] = text

    def clear(self, cause: str) -> None:
        """`cause` no longer waits."""
        with self._lock:
            self._now.pop(cause, None)

    def text(self) -> str:
        """Every wait under way, or ''."""
        with self._lock:
            return "; ".join(self._now.values())


@dataclass
class Slot:
    """One POST's place in the budget."""

    sent: bool = True


class PostBudget:
    """At most `limit` POSTs in any `window` seconds, as the server counts them.

    A slot is held from the moment a POST is sent until `window` seconds after its answer
    came back: the request reached the server somewhere in between, so no later POST can
    land inside the same window as seen by the server, whatever the latency did.
    """

    def __init__(self, limit: int = 20, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, waits: Waits | None = None) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.waits = waits or Waits()
        self._waiting = 0  # callers held back by the budget now
        self.ceiling = limit  # the limit asked for; `limit` adapts below it after 429s
        self._last_429 = -1e18
        self._last_cut = -1e18
        self._expiries: list[float] = []
        self._inflight = 0
        self._paused_until = 0.0
        self._cancelled = False
        self._cond = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Hold one POST slot. Unless the caller marks it unsent (the request never left),
        it stays taken for `window` seconds after the answer."""
        self._acquire()
        slot = Slot()
        try:
            yield slot
        finally:
            with self._cond:
                self._inflight -= 1
                if slot.sent:
                    self._expiries.append(self.clock() + self.window)
                self._cond.notify_all()

    def pause(self, seconds: float) -> None:
        """Hold every POST back for `seconds` (a 429 told us to)."""
        with self._cond:
            self._paused_until = max(self._paused_until, self.clock() + seconds)

    def throttled(self) -> int:
        """A POST met a 429 although this budget was kept: the key's real rate is lower
        (the server counts differently, or another client shares the key). Take a quarter
        off the limit (never below 1), once per window: the POSTs in flight together meet
        the same overload, and a burst of their 429s is one signal, not one each. It creeps
        back by one each quiet window. Returns the limit now in force."""
        with self._cond:
            now = self.clock()
            if now - self._last_cut >= self.window:
                self.limit = max(1, (self.limit * 3) // 4)
                self._last_cut = now
            self._last_429 = now
            return self.limit

    def _recover(self, now: float) -> None:
        if self.limit < self.ceiling and now - self._last_429 >= self.window:
            self.limit += 1
            self._last_429 = now  # one step per quiet window

    def cancel(self) -> None:
        """Wake every queued caller with `Cancelled`; no POST is sent after this."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def _acquire(self) -> None:
        with self._cond:
            self._waiting += 1
            try:
                self._wait_for_slot()
            finally:
                self._waiting -= 1
                if not self._waiting:
                    self.waits.clear("budget")

    def _wait_for_slot(self) -> None:
        while True:
            if self._cancelled:
                raise Cancelled("stopping: no more POSTs")
            now = self.clock()
            self._recover(now)
            self._expiries = [t for t in self._expiries if t > now]
            if now < self._paused_until:
                self.waits.set("budget", f"{self._waiting} POST{_s(self._waiting)} waiting out JoggAI's "
                               f"rate limit (a 429), {self._paused_until - now:.0f} s left")
                self._cond.wait(self._paused_until - now)
            elif len(self._expiries) + self._inflight < self.limit:
                self._inflight += 1
                return
            else:
                soonest = min(self._expiries) - now if self._expiries else 0.05
                self.waits.set("budget", f"{self._waiting} POST{_s(self._waiting)} waiting for the POST "
                               f"budget ({self.limit} per {self.window:g} s, all used; the next slot in "
                               f"{max(soonest, 0):.0f} s)")
                self._cond.wait(soonest)


def _s(n: int) -> str:
    return "" if n == 1 else "s"
