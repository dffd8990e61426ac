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

The limit in force adapts to 429s as the in-process budget's does (`throttled`), but per key
in the database: a 429 one runner meets lowers the limit for every runner on the key, a burst
of them in one window is one cut, and it creeps back one POST per quiet window up to the
key's ceiling, the lowest limit the runners on it asked for.
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
from .postgres import Link, ensure_schema, has_table

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
        self._seen = (0.0, 0, limit)  # the last look: pause left, slots used by every run, limit in force
        self._own = isinstance(link, str)
        self._link = Link(link, where) if isinstance(link, str) else link
        self._cancelled = threading.Event()
        self._queue = threading.Lock()  # one thread of this run looks at the window at a time
        self._adapts = True  # the key's limit in force is in the database (see _ask)
        self.key_hash = ""
        self._link.run(ensure_schema, self.where)
        self._link.run(lambda conn: self._ask(conn, api_key), self.where)

    def _ask(self, conn: psycopg.Connection[Any], api_key: str) -> None:
        """The key's hash; this runner's limit put to the key's ceiling: the lowest asked while
        others POST on the key (their slots are in the window), else this one's. The limit in
        force learnt from 429s stays, below the ceiling."""
        self.key_hash = _hash(conn, api_key)
        self._adapts = has_table(conn, "jogg_flow_post_limits")  # absent: see ensure_schema
        if not self._adapts:
            return
        conn.execute(
            "insert into jogg_flow_post_limits as l (key_hash, in_force, ceiling) "
            "values (%(k)s, %(n)s, %(n)s) on conflict (key_hash) do update set ceiling = case "
            "when exists (select 1 from jogg_flow_post_slots where key_hash = %(k)s "
            "and expires_at > clock_timestamp()) "
            "then least(l.ceiling, %(n)s) else %(n)s end, in_force = least(l.in_force, %(n)s)",
            {"k": self.key_hash, "n": self.limit})

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

    def throttled(self) -> int:
        """A POST met a 429 although the budget was kept: the key's real rate is lower. Take
        a quarter off the key's limit in force (never below 1), once per window for every
        runner on the key: a burst of 429s, from one runner or many, is one signal. Returns
        the limit now in force for this runner."""
        if not self._adapts:
            return self.limit
        row = self._link.run(lambda c: c.execute(
            "insert into jogg_flow_post_limits as l (key_hash, in_force, ceiling, last_cut, last_429) "
            "values (%(k)s, greatest(1, %(n)s * 3 / 4), %(n)s, statement_timestamp(), statement_timestamp()) "
            "on conflict (key_hash) do update set in_force = case when l.last_cut is null or "
            "l.last_cut <= statement_timestamp() - %(w)s * interval '1 second' "
            "then greatest(1, least(l.in_force, %(n)s) * 3 / 4) else l.in_force end, "
            "last_cut = case when l.last_cut is null or l.last_cut <= statement_timestamp() - %(w)s * "
            "interval '1 second' then statement_timestamp() else l.last_cut end, "
            "last_429 = greatest(l.last_429, statement_timestamp()) returning in_force",
            {"k": self.key_hash, "n": self.limit, "w": self.window}).fetchone(), self.where, single=True)
        assert row is not None
        return min(self.limit, int(row[0]))

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
        paused, used, limit = self._seen
        if paused > 0:
            return f"waiting out JoggAI's rate limit (a 429 to a run on this key), {paused:.0f} s left"
        now = time.monotonic()
        with self._mine_lock:
            self._mine = [t for t in self._mine if t > now]
            others = max(used - len(self._mine), 0)
        lowered = (f"; {limit} in force, not the {self.limit} asked: JoggAI answered 429s on this key "
                   f"within the budget, so its real rate is lower (one back per quiet window)"
                   if limit < self.limit else "")
        return (f"waiting for the shared POST budget: {others} of its {limit} POSTs per "
                f"{self.window:g} s were sent by other runs on this key; the next slot in "
                f"{max(wait, 0):.0f} s{lowered}")

    def _try(self, conn: psycopg.Connection[Any]) -> tuple[int | None, float]:
        """One look at the window, in a transaction serialised per key across runners."""
        conn.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", (NAMESPACE + 1, self.key_hash))
        conn.execute("delete from jogg_flow_post_slots where key_hash = %s "
                     "and expires_at <= clock_timestamp()", (self.key_hash,))
        look = _LOOK if self._adapts else _LOOK_FIXED
        row = conn.execute(look, {"k": self.key_hash, "w": self.window}).fetchone()
        assert row is not None
        paused, used, soonest = (float(row[0]) if row[0] is not None else 0.0), row[1], row[2]
        limit = min(self.limit, int(row[3])) if row[3] is not None else self.limit
        self._seen = (paused, int(used), limit)
        if paused > 0:
            return None, paused
        if used < limit:
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


# One look at the key's window, one round trip: the pause left, the slots taken, when the
# soonest frees, and the limit in force, a step back up first if a window passed without a
# 429 (since the last one, or the last step).
_SELECT = """
select extract(epoch from (select until from jogg_flow_post_pauses where key_hash = %(k)s)
                          - clock_timestamp()),
       count(*), extract(epoch from min(expires_at) - clock_timestamp()), {limit}
from jogg_flow_post_slots where key_hash = %(k)s"""
_LOOK = """
with up as (
    update jogg_flow_post_limits set in_force = in_force + 1, last_429 = statement_timestamp()
    where key_hash = %(k)s and in_force < ceiling
      and (last_429 is null or last_429 <= statement_timestamp() - %(w)s * interval '1 second')
    returning in_force)""" + _SELECT.format(
    limit="coalesce((select in_force from up), "
          "(select in_force from jogg_flow_post_limits where key_hash = %(k)s))")
_LOOK_FIXED = _SELECT.format(limit="null")  # a database without the table (see ensure_schema)


def _hash(conn: psycopg.Connection[Any], api_key: str) -> str:
    conn.execute("insert into jogg_flow_meta (name, value) values ('salt', %s) "
                 "on conflict (name) do nothing", (secrets.token_hex(16),))
    row = conn.execute("select value from jogg_flow_meta where name = 'salt'").fetchone()
    assert row is not None
    return hashlib.sha256((row[0] + api_key).encode()).hexdigest()
