"""The lock of a PostgreSQL state: a lease with a fencing token.

One row of `jogg_flow_leases` per state names its holder, the run, a token and when the
lease ends, on the database's clock. It is taken and renewed in transactions, so it holds
through a transaction-mode pooler, where a session advisory lock would belong to whichever
server connection happened to run it. Taking the lease adds one to the token; every state
write and every POST budget slot checks, in its own transaction, that the writer's token is
still the current one (Kleppmann's fencing tokens), and holds the row so until it commits.
So a run paused past its lease (SIGSTOP, a frozen VM, a lost network) writes nothing after
another run took over. A live run renews its lease every `seconds / 6`; a dead one's lease
ends `seconds` after its last renewal, and then the next run takes over.
"""

from __future__ import annotations

import math
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import LockedError, StateError
from .lock import describe, holder_info

if TYPE_CHECKING:
    import psycopg

    Conn = psycopg.Connection[Any]

T = TypeVar("T")
NAMESPACE = 0x4A46  # advisory lock class id of jogg-flow ("JF"), for transaction-scoped locks only
SECONDS = 30.0  # how long a lease lasts without renewal
ENV = "JOGG_FLOW_PG_LEASE"  # another length, in seconds (tests, or a slow network)


class Runs(Protocol):
    """What runs a lease's transactions (postgres.Link)."""

    where: str

    def run(self, fn: Callable[[Conn], T], what: str | None = None, *, single: bool = False) -> T:
        """`fn(conn)` in one transaction (with `single`, its statements each in their own)."""


def seconds_from(environ: Mapping[str, str]) -> float:
    """The lease's length: JOGG_FLOW_PG_LEASE seconds (at least 1), else 30."""
    raw = environ.get(ENV, "").strip()
    if not raw:
        return SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not value >= 1.0 or math.isinf(value):
        raise StateError(f"{ENV}={raw!r}: the lease of a PostgreSQL state is a number of seconds, at least 1")
    return value


@dataclass
class Lease:
    """This run's hold on a state: its token, renewed in the background until stop()."""

    name: str
    token: int
    seconds: float
    run_id: str
    lost: str | None = None  # why the lease is no longer this run's, once it is not
    _stop: threading.Event = field(default_factory=threading.Event)
    _beat: threading.Thread | None = None

    def keep(self, link: Runs) -> None:
        """Renew the lease every `seconds / 6` until stop(); a renewal the database
        cannot take now is tried again at the next beat, well before the lease ends."""
        def beat() -> None:
            while not self._stop.wait(self.seconds / 6):
                try:
                    link.run(lambda conn: self._renew(conn, link.where), single=True)
                except StateError:
                    if self.lost:
                        return
        self._beat = threading.Thread(target=beat, name="jogg-lease", daemon=True)
        self._beat.start()

    def stop(self) -> None:
        """No more renewals (a renewal under way finishes first)."""
        self._stop.set()
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join(timeout=15)

    def _renew(self, conn: Conn, where: str) -> None:
        row = conn.execute("update jogg_flow_leases set expires_at = clock_timestamp() + %s * interval "
                           "'1 second', renewed_at = clock_timestamp() where name = %s and token = %s "
                           "returning token", (self.seconds, self.name, self.token)).fetchone()
        if row is None:
            check_current(conn, self, where)


def take(link: Runs, name: str,
         environ: Mapping[str, str] = os.environ) -> tuple[Lease, dict[str, Any] | None]:
    """Take the state's lease, or StateError naming the run whose lease is live. Returns
    the lease (renewed from now on) and the holder of a lease that ended unreleased."""
    lease = Lease(name, 0, seconds_from(environ), uuid.uuid4().hex)
    me = {**holder_info(), "run": lease.run_id}

    def grab(conn: Conn) -> tuple[int, dict[str, Any] | None]:
        from psycopg.types.json import Jsonb

        conn.execute("insert into jogg_flow_states (name, lineage) values (%s, gen_random_uuid()::text) "
                     "on conflict (name) do nothing", (name,))
        conn.execute("insert into jogg_flow_leases (name) values (%s) on conflict (name) do nothing", (name,))
        row = conn.execute("select holder, extract(epoch from expires_at - clock_timestamp()), run_id, "
                           "token from jogg_flow_leases where name = %s for update", (name,)).fetchone()
        assert row is not None
        holder, left, unreleased, token = row
        if unreleased == lease.run_id:  # taken already: this transaction runs again on a new connection
            return int(token), None
        if left is not None and left > 0:
            raise LockedError(f"{link.where} is locked by another run: {describe(holder)}", "that run "
                              f"renews its lease while it lives, and if it is gone the lease ends within "
                              f"{math.ceil(left)} s")
        _no_older_run(conn, name, link.where)
        got = conn.execute("update jogg_flow_leases set token = token + 1, run_id = %s, holder = %s, "
                           "expires_at = clock_timestamp() + %s * interval '1 second', "
                           "renewed_at = clock_timestamp() where name = %s returning token",
                           (lease.run_id, Jsonb(me), lease.seconds, name)).fetchone()
        assert got is not None
        return int(got[0]), holder if unreleased else None
    lease.token, previous = link.run(grab)
    lease.keep(link)
    return lease, previous


# One statement that writes only if the lease is current: `{write}` reads `lease` (`insert
# ... select ... from lease`, `... where exists (select 1 from lease)`); it answers 1 if it was.
FENCED = ("with lease as (select 1 from jogg_flow_leases where name = %(lease_name)s and token = "
          "%(lease_token)s for share), done as ({write} returning 1) select count(*) from lease")
UNFENCED = "with lease as (select 1), done as ({write} returning 1) select count(*) from lease"


def fenced_write(conn: Conn, lease: Lease | None, write: str, params: dict[str, Any], where: str) -> None:
    """Run `write` in one statement (its own transaction), only while `lease` is the
    state's current one (checked and held in that statement): else StateError."""
    if lease is None:
        conn.execute(UNFENCED.format(write=write), params)
        return
    row = conn.execute(FENCED.format(write=write),
                       {**params, "lease_name": lease.name, "lease_token": lease.token}).fetchone()
    if not (row and row[0]):
        check_current(conn, lease, where)
        raise StateError(f"{where}: this run's lease on the state changed under it; it writes nothing more")


def _no_older_run(conn: Conn, name: str, where: str) -> None:
    """A jogg-flow from before the lease holds a session advisory lock on the state while
    it runs (and names itself in jogg_flow_states.holder): refuse while one does."""
    free = conn.execute("select pg_try_advisory_xact_lock(%s, hashtext(%s))", (NAMESPACE, name)).fetchone()
    if free and free[0]:
        return
    row = conn.execute("select holder from jogg_flow_states where name = %s", (name,)).fetchone()
    raise LockedError(f"{where} is locked by another run of an older jogg-flow: {describe(row and row[0])}",
                      "it is freed when that run ends")


def check_current(conn: Conn, lease: Lease, where: str, idle: float | None = None) -> None:
    """Inside a write's transaction: StateError unless `lease` is the state's current one;
    the row stays held (FOR SHARE) so no run takes over before this transaction ends.
    With `idle`, the same statement arms the transaction as `arm` does."""
    row = conn.execute("select token, holder, run_id is null, set_config("
                       "'idle_in_transaction_session_timeout', %s, %s) from jogg_flow_leases "
                       "where name = %s for share", (_ms(idle or 0), idle is not None, lease.name)).fetchone()
    if row is not None and row[0] == lease.token:
        return
    token, holder, ended = row[:3] if row is not None else (None, None, False)
    lease.lost = (f"{where}: this run's lease was taken over by {describe(holder)}"
                  f"{', since finished' if ended else ''} (token {token}, this "
                  f"run's {lease.token}): this run was paused or cut off for longer than its "
                  f"{lease.seconds:g} s lease, so it writes nothing more; the state holds what that "
                  "run records")
    raise StateError(lease.lost)


def release(conn: Conn, lease: Lease) -> None:
    """Free the lease now, if it is still this run's; the token stays for the next run, and
    the holder for messages (a null run id says it was released)."""
    with conn.transaction():
        conn.execute("update jogg_flow_leases set run_id = null, expires_at = null "
                     "where name = %s and token = %s", (lease.name, lease.token))


def arm(conn: Conn, seconds: float) -> None:
    """First in every transaction: a client stopped inside it (SIGSTOP) would hold its
    server connection and the lease row; the server ends such a session after `seconds`."""
    conn.execute("select set_config('idle_in_transaction_session_timeout', %s, true)", (_ms(seconds),))


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"
