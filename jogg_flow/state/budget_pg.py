"""One POST budget per API key across every runner that shares a PostgreSQL state.

Same interface as `jogg_flow.api.budget.PostBudget`; the sliding window lives in the
database and is kept with the database's clock, so runners on machines whose clocks
disagree still count the same window. A slot is a row: taken with an expiry far enough
ahead to cover the request (so a runner killed mid-POST frees it by itself), and moved to
`window` seconds after the answer once the answer is in. The key is stored only as a
salted SHA-256 hash, with a random salt kept in the database.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..api.budget import Slot
from ..api.errors import Cancelled
from ..errors import StateError
from .dsn import redact
from .postgres import NAMESPACE, connect, ensure_schema

if TYPE_CHECKING:
    import psycopg

MAX_WAIT = 0.25  # longest sleep between two looks at the window: others may free slots


class PgPostBudget:
    """At most `limit` POSTs in any `window` seconds for one key, across processes."""

    def __init__(self, dsn: str, api_key: str, limit: int = 20, window: float = 60.0,
                 hold: float = 90.0, where: str = "PostgreSQL") -> None:
        self.limit, self.window, self.hold = limit, window, max(hold, window)
        self.dsn, self.where = dsn, where
        self._cancelled = threading.Event()
        self._mutex = threading.Lock()
        self._conn = connect(dsn, where)
        self._run(ensure_schema, self._conn)
        self.key_hash = self._run(self._hash, api_key)

    def _hash(self, api_key: str) -> str:
        conn = self._require()
        conn.execute("insert into jogg_flow_meta (name, value) values ('salt', %s) "
                     "on conflict (name) do nothing", (secrets.token_hex(16),))
        row = conn.execute("select value from jogg_flow_meta where name = 'salt'").fetchone()
        assert row is not None
        return hashlib.sha256((row[0] + api_key).encode()).hexdigest()

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Hold one POST slot; unless marked unsent, it expires `window` s after the answer."""
        slot_id = self._acquire()
        slot = Slot()
        try:
            yield slot
        finally:
            self._release(slot_id, slot.sent)

    def pause(self, seconds: float) -> None:
        """Hold every runner's POSTs for `seconds` (a 429 told one of us to)."""
        self._locked(lambda c: c.execute(
            "insert into jogg_flow_post_pauses (key_hash, until) values "
            "(%s, clock_timestamp() + %s * interval '1 second') on conflict (key_hash) do update "
            "set until = greatest(jogg_flow_post_pauses.until, excluded.until)",
            (self.key_hash, float(seconds))))

    def cancel(self) -> None:
        """Wake every queued caller with `Cancelled`; no POST is sent after this."""
        self._cancelled.set()

    def close(self) -> None:
        """Close the connection; slots still held expire by themselves."""
        with self._mutex:
            self._conn.close()

    def _acquire(self) -> int:
        while True:
            if self._cancelled.is_set():
                raise Cancelled("stopping: no more POSTs")
            slot_id, wait = self._locked(self._try)
            if slot_id is not None:
                return int(slot_id)
            self._cancelled.wait(min(max(wait, 0.005), MAX_WAIT))

    def _try(self, conn: psycopg.Connection[Any]) -> tuple[int | None, float]:
        """One look at the window, in a transaction serialised per key across runners."""
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", (NAMESPACE + 1, self.key_hash))
            conn.execute("delete from jogg_flow_post_slots where key_hash = %s "
                         "and expires_at <= clock_timestamp()", (self.key_hash,))
            row = conn.execute(
                "select extract(epoch from (select until from jogg_flow_post_pauses where key_hash = %s)"
                " - clock_timestamp()), count(*), extract(epoch from min(expires_at) - clock_timestamp()) "
                "from jogg_flow_post_slots where key_hash = %s", (self.key_hash, self.key_hash)).fetchone()
            assert row is not None
            paused, used, soonest = (float(row[0]) if row[0] is not None else 0.0), row[1], row[2]
            if paused > 0:
                return None, paused
            if used < self.limit:
                got = conn.execute("insert into jogg_flow_post_slots (key_hash, expires_at) values "
                                   "(%s, clock_timestamp() + %s * interval '1 second') returning id",
                                   (self.key_hash, self.hold)).fetchone()
                assert got is not None
                return int(got[0]), 0.0
            return None, float(soonest) if soonest is not None else MAX_WAIT

    def _release(self, slot_id: int, sent: bool) -> None:
        try:
            if sent:
                self._locked(lambda c: c.execute(
                    "update jogg_flow_post_slots set expires_at = clock_timestamp() + %s * interval "
                    "'1 second' where id = %s", (self.window, slot_id)))
            else:
                self._locked(lambda c: c.execute("delete from jogg_flow_post_slots where id = %s",
                                                 (slot_id,)))
        except StateError:
            pass  # the answer is in hand and must reach the state; the slot expires by itself

    def _locked(self, fn: Any) -> Any:
        with self._mutex:
            return self._run(fn, self._require())

    def _require(self) -> psycopg.Connection[Any]:
        if self._conn.closed:
            raise StateError(f"{self.where}: the POST budget's connection is closed")
        return self._conn

    def _run(self, fn: Any, *args: Any) -> Any:
        import psycopg

        try:
            return fn(*args)
        except psycopg.Error as err:
            text = str(err).strip().splitlines()
            raise StateError(redact(f"{self.where}: POST budget: {text[0] if text else err!r}",
                                    self.dsn)) from None
