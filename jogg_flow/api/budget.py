"""The POST budget: JoggAI allows a key 20 POSTs a minute, counted at its side."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import Cancelled


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
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
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
            while True:
                if self._cancelled:
                    raise Cancelled("stopping: no more POSTs")
                now = self.clock()
                self._recover(now)
                self._expiries = [t for t in self._expiries if t > now]
                if now < self._paused_until:
                    self._cond.wait(self._paused_until - now)
                elif len(self._expiries) + self._inflight < self.limit:
                    self._inflight += 1
                    return
                else:
                    self._cond.wait(min(self._expiries) - now if self._expiries else 0.05)
