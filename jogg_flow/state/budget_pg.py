"""One POST budget per API key across every runner that shares a PostgreSQL state.

Same interface as `jogg_flow.api.budget.PostBudget`; the sliding window lives in the
database and is kept with the database's clock, so runners on machines whose clocks
disagree still count the same window. A slot is a row: taken with an expiry far enough
ahead to cover the request (so a runner killed mid-POST frees it by itself), and moved to
`window` seconds after the answer once the answer is in (counted from when the answer
came back, not from when the update ran). The key is stored only as a
salted SHA-256 hash, with a random salt kept in the database.

Its transactions go through the run's one connection (`postgres.Link`), and a slot is given
only while the run's lease on its state is the current one, checked in the slot's own
transaction: a run another took over from sends no more POSTs.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..api.budget import Slot, Waits
from ..api.errors import Cancelled
from ..errors import StateError
from .lease import NAMESPACE
from .postgres import Link, ensure_schema

if TYPE_CHECKING:
    import psycopg

MAX_WAIT = 0.25  # longest sleep between two looks at the window: others may free slots


class PgPostBudget:
    """At most `limit` POSTs in any `window` seconds for one key, across processes."""

    def __init__(self, link: Link | str, api_key: str, limit: int = 20, window: float = 60.0,
                 hold: float = 90.0, where: str = "the POST budget in PostgreSQL",
                 waits: Waits | None = None) -> None:
        """On `link`, the run's connection (its state's lease fences every slot), or on a
        DSN, a connection of the budget's own."""
        self.limit, self.window, self.hold = limit, window, max(hold, window)
        self.where = where
        self.waits = waits or Waits()
        self._mine: list[float] = []  # when this run's slots leave the window (monotonic; inf: held)
        self._mine_lock = threading.Lock()
        self._seen = (0.0, 0)  # the last look at the window: pause left, slots used by every run
        self._own = isinstance(link, str)
        self._link = Link(link, where) if isinstance(link, str) else link
        self._cancelled = threading.Event()
        self._queue = threading.Lock()  # one thread of this run looks at the window at a time
        self._link.run(ensure_schema, self.where)
        self.key_hash = self._link.run(lambda conn: _hash(conn, api_key), self.where)

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Hold one POST slot; unless marked unsent, it expires `window` s after the answer."""
        slot_id = self._acquire()
        slot = Slot()
        try:
            yield slot
        finally:
            self._release(slot_id, slot.sent, time.monotonic())

    def pause(self, seconds: float) -> None:
        """Hold every runner's POSTs for `seconds` (a 429 told one of us to)."""
        self._link.run(lambda c: c.execute(
            "insert into jogg_flow_post_pauses (key_hash, until) values "
            "(%s, clock_timestamp() + %s * interval '1 second') on conflict (key_hash) do update "
            "set until = greatest(jogg_flow_post_pauses.until, excluded.until)",
            (self.key_hash, float(seconds))), self.where, single=True)

    def cancel(self) -> None:
        """Wake every queued caller with `Cancelled`; no POST is sent after this."""
        self._cancelled.set()

    def close(self) -> None:
        """Close the budget's own connection (the run's closes with its state); slots
        still held expire by themselves."""
        if self._own:
            self._link.close()

    def _acquire(self) -> int:
        with self._queue:
            while True:
                if self._cancelled.is_set():
                    raise Cancelled("stopping: no more POSTs")
                slot_id, wait = self._link.fenced(self._try, self.where)
                if slot_id is not None:
                    self.waits.clear("budget")
                    with self._mine_lock:
                        self._mine.append(math.inf)
                    return int(slot_id)
                self.waits.set("budget", self._why(wait))
                self._cancelled.wait(min(max(wait, 0.005), MAX_WAIT))

    def _why(self, wait: float) -> str:
        """What the wait is for, in the heartbeat's words: the POSTs other runs on this key sent
        count against the same window."""
        paused, used = self._seen
        if paused > 0:
            return f"waiting out JoggAI's rate limit (a 429 to a run on this key), {paused:.0f} s left"
        now = time.monotonic()
        with self._mine_lock:
            self._mine = [t for t in self._mine if t > now]
            others = max(used - len(self._mine), 0)
        return (f"waiting for the shared POST budget: {others} of its {self.limit} POSTs per "
                f"{self.window:g} s were sent by other runs on this key; the next slot in "
                f"{max(wait, 0):.0f} s")

    def _try(self, conn: psycopg.Connection[Any]) -> tuple[int | None, float]:
        """One look at the window, in a transaction serialised per key across runners."""
        conn.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", (NAMESPACE + 1, self.key_hash))
        conn.execute("delete from jogg_flow_post_slots where key_hash = %s "
                     "and expires_at <= clock_timestamp()", (self.key_hash,))
        row = conn.execute(
            "select extract(epoch from (select until from jogg_flow_post_pauses where key_hash = %s)"
            " - clock_timestamp()), count(*), extract(epoch from min(expires_at) - clock_timestamp()) "
            "from jogg_flow_post_slots where key_hash = %s", (self.key_hash, self.key_hash)).fetchone()
        assert row is not None
        paused, used, soonest = (float(row[0]) if row[0] is not None else 0.0), row[1], row[2]
        self._seen = (paused, int(used))
        if paused > 0:
            return None, paused
        if used < self.limit:
            got = conn.execute("insert into jogg_flow_post_slots (key_hash, expires_at) values "
                               "(%s, clock_timestamp() + %s * interval '1 second') returning id",
                               (self.key_hash, self.hold)).fetchone()
            assert got is not None
            return int(got[0]), 0.0
        return None, float(soonest) if soonest is not None else MAX_WAIT

    def _release(self, slot_id: int, sent: bool, answered: float) -> None:
        """Free the slot `window` seconds after the answer came back (`answered`, this
        process's monotonic clock), however long the update waited for the run's
        connection behind its other threads' transactions: the wait is taken off."""
        with self._mine_lock:
            if math.inf in self._mine:
                self._mine.remove(math.inf)
                if sent:
                    self._mine.append(answered + self.window)
        try:
            if sent:
                self._link.run(lambda c: c.execute(
                    "update jogg_flow_post_slots set expires_at = clock_timestamp() + %s * interval "
                    "'1 second' where id = %s", (self.window - (time.monotonic() - answered), slot_id)),
                    self.where, single=True)
            else:
                self._link.run(lambda c: c.execute("delete from jogg_flow_post_slots where id = %s",
                                                   (slot_id,)), self.where, single=True)
        except StateError:
            pass  # the answer is in hand and must reach the state; the slot expires by itself


def _hash(conn: psycopg.Connection[Any], api_key: str) -> str:
    conn.execute("insert into jogg_flow_meta (name, value) values ('salt', %s) "
                 "on conflict (name) do nothing", (secrets.token_hex(16),))
    row = conn.execute("select value from jogg_flow_meta where name = 'salt'").fetchone()
    assert row is not None
    return hashlib.sha256((row[0] + api_key).encode()).hexdigest()
