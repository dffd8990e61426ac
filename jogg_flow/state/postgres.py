"""The state in PostgreSQL: one row per video, each write its own short transaction.

It works the same on a direct connection and through a pooler in transaction mode
(PgBouncer, Supabase's and Neon's pooled URLs), where a client's consecutive transactions
may run on different server connections: no server-side prepared statements, nothing left
in the server session between transactions (`Link`). The lock is a lease (`lease.py`).
Requires psycopg 3 (`pip install 'jogg-flow[postgres]'`).
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import StateError
from .dsn import describe as describe_dsn
from .dsn import redact, split
from .lease import NAMESPACE, Lease, arm, check_current, fenced_write, release, seconds_from, take
from .records import check_record

if TYPE_CHECKING:
    import psycopg

Record = dict[str, Any]
T = TypeVar("T")
SCHEMA = """
create table if not exists jogg_flow_states (
    name text primary key, lineage text not null, identity jsonb, holder jsonb,
    created_at timestamptz not null default now());
create table if not exists jogg_flow_videos (
    state text not null references jogg_flow_states (name) on delete cascade,
    key text not null, record jsonb not null, updated_at timestamptz not null default now(),
    primary key (state, key));
create table if not exists jogg_flow_meta (name text primary key, value text not null);
create table if not exists jogg_flow_post_slots (
    id bigserial primary key, key_hash text not null, expires_at timestamptz not null);
create index if not exists jogg_flow_post_slots_key on jogg_flow_post_slots (key_hash, expires_at);
create table if not exists jogg_flow_post_pauses (
    key_hash text primary key, until timestamptz not null);
create table if not exists jogg_flow_leases (
    name text primary key references jogg_flow_states (name) on delete cascade,
    token bigint not null default 0, run_id text, holder jsonb, expires_at timestamptz,
    renewed_at timestamptz);
create table if not exists jogg_flow_post_limits (
    key_hash text primary key, in_force integer not null, ceiling integer not null,
    last_cut timestamptz, last_429 timestamptz);
"""
# Present once the whole schema is: the last table created, so a database of an earlier
# release (which lacks it) gets the tables added since at its first locked run.
LAST_TABLE = "jogg_flow_post_limits"
EARLIER_LAST_TABLE = "jogg_flow_leases"  # the previous release's last table


def connect(dsn: str, what: str, timeout: float = 10.0) -> psycopg.Connection[Any]:
    """An autocommit connection that prepares nothing on the server, or StateError
    without the password."""
    try:
        import psycopg
    except ImportError:
        raise StateError("a PostgreSQL state needs psycopg 3: pip install 'jogg-flow[postgres]'") from None
    try:
        # prepare_threshold=None: a statement prepared on one server connection is unknown
        # (or already known) on the next one a transaction pooler hands out.
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, round(timeout)),
                               application_name="jogg-flow", prepare_threshold=None)
    except psycopg.Error as err:
        raise StateError(redact(f"{what}: cannot connect ({_first_line(err)})", dsn)) from None
    return conn


def ensure_schema(conn: psycopg.Connection[Any]) -> None:
    """Create jogg-flow's tables once; concurrent first runs wait for each other. A database
    of the previous release whose role may no longer create tables keeps working without
    the ones added since (the POST budget then keeps its limit after 429s)."""
    import psycopg

    with conn.transaction():
        if has_table(conn, LAST_TABLE):
            return
        conn.execute("select pg_advisory_xact_lock(%s, 0)", (NAMESPACE,))
        try:
            with conn.transaction():  # a savepoint: the refusal below leaves the rest usable
                conn.execute(SCHEMA)
        except psycopg.errors.InsufficientPrivilege:
            if not has_table(conn, EARLIER_LAST_TABLE):
                raise


def has_table(conn: psycopg.Connection[Any], name: str) -> bool:
    """Whether the table `name` exists (on the connection's search path)."""
    row = conn.execute("select to_regclass(%s)", (name,)).fetchone()
    return bool(row and row[0])


class Link:
    """A runner's one connection to the database, one transaction at a time.

    The state, its lease's renewals and the POST budget all go through it, so a runner
    holds at most one server connection at any moment (and behind a transaction pooler,
    only while a transaction runs). Every call is a whole transaction: nothing is left in
    the server session for the next call, which may run on another server connection.
    """

    def __init__(self, dsn: str, where: str) -> None:
        self.dsn, self.where = dsn, where
        self.lease: Lease | None = None
        self.idle = seconds_from(os.environ)  # longest a transaction may wait on its client
        self._mutex = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = connect(dsn, where)

    def run(self, fn: Callable[[psycopg.Connection[Any]], T], what: str | None = None, *,
            single: bool = False, armed: bool = False) -> T:
        """`fn(conn)` in one transaction, armed first (`lease.arm`) unless `fn` arms it
        itself; with `single`, `fn` runs one statement, its own transaction, and nothing
        stays open between statements. A database error becomes StateError. If the
        connection broke (a restart, a pooler that dropped it), `fn` runs once more on a
        new one: the lock is the lease, not the session, and every call here may run twice
        (writes are upserts, a second POST slot expires by itself)."""
        import psycopg

        with self._mutex:
            for retry in (False, True):
                conn = self._connection()
                try:
                    if single:
                        return fn(conn)
                    with conn.transaction():
                        if not armed:
                            arm(conn, self.idle)
                        return fn(conn)
                except psycopg.Error as err:
                    if not retry and conn.closed:
                        continue
                    raise StateError(redact(f"{what or self.where}: {_first_line(err)}{self._resume(what)}",
                                            self.dsn)) from None
        raise AssertionError("unreachable")

    def fenced(self, fn: Callable[[psycopg.Connection[Any]], T], what: str | None = None) -> T:
        """`fn(conn)` in one transaction that first checks this run's lease token is the
        current one (and holds it so until the commit): a run another took over from
        writes nothing."""
        lease = self.lease

        def checked(conn: psycopg.Connection[Any]) -> T:
            if lease is None:
                arm(conn, self.idle)
            else:
                check_current(conn, lease, self.where, self.idle)
            return fn(conn)
        return self.run(checked, what, armed=True)

    def write(self, sql: str, params: dict[str, Any], what: str | None = None) -> None:
        """One fenced statement (`lease.FENCED`): a single round trip, its own transaction."""
        lease = self.lease
        self.run(lambda conn: fenced_write(conn, lease, sql, params, self.where), what, single=True)

    def close(self) -> None:
        """Release the lease (if the connection is gone, over a short-lived new one) and
        close the connection."""
        lease, self.lease = self.lease, None
        if lease is not None:
            lease.stop()
        with self._mutex:
            conn, self._conn = self._conn, None
        if lease is not None:
            self._release(conn, lease)
        if conn is not None:
            conn.close()

    def _release(self, conn: psycopg.Connection[Any] | None, lease: Lease) -> None:
        """Free the lease, over a new connection if this one broke (the server restarted):
        the next run need not wait for it to end. Failing that, it ends by itself."""
        import psycopg

        if lease.lost:
            return
        if conn is not None and not conn.closed:
            with contextlib.suppress(psycopg.Error):
                return release(conn, lease)
        with contextlib.suppress(psycopg.Error, StateError), \
                connect(self.dsn, self.where, timeout=3) as fresh:
            release(fresh, lease)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise StateError(f"{self.where}: the connection is closed; this run holds no lock any more")
        if self._conn.closed:
            self._conn = connect(self.dsn, self.where)
        return self._conn

    @staticmethod
    def _resume(what: str | None) -> str:
        return "" if what else ("; the state holds everything up to this step, and the next run "
                                "resumes from there")


class PgStore:
    """Video records of one named state in a PostgreSQL database."""

    def __init__(self, location: str, default_name: str) -> None:
        self.dsn, name = split(location)
        self.name = name or default_name
        self.where = describe_dsn(self.dsn, self.name)
        self.videos: dict[str, Record] = {}
        self.identity: dict[str, Any] | None = None
        self.notes: list[str] = []
        self.existed = False
        self.took_over: dict[str, Any] | None = None
        self.link: Link | None = None
        self._mutex = threading.Lock()

    @classmethod
    def open(cls, location: str, default_name: str, *, lock: bool) -> PgStore:
        """Connect and read; with `lock`, hold the state's lease until close()."""
        store = cls(location, default_name)
        link = store.link = Link(store.dsn, store.where)
        try:
            if lock:
                link.run(ensure_schema)
                link.lease, store.took_over = take(link, store.name)
            if lock or link.run(_has_tables):  # reading creates nothing
                link.run(store._read)
        except BaseException:
            store.close()
            raise
        if not lock:
            store.close()
        return store

    def _read(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute("select identity from jogg_flow_states where name = %s", (self.name,)).fetchone()
        self.identity = row[0] if row else None
        videos = {}
        for key, record in conn.execute("select key, record from jogg_flow_videos where state = %s",
                                        (self.name,)):
            check_record(key, record, self.where)
            videos[key] = record
        self.videos = videos
        self.existed = bool(videos) or self.identity is not None

    def get(self, key: str) -> Record | None:
        """A copy of the record for `key`, safe to change and `put` back."""
        with self._mutex:
            record = self.videos.get(key)
            return copy.deepcopy(record) if record is not None else None

    def put(self, key: str, record: Record | None) -> None:
        """Record (or with None, forget) one video; committed before it returns, and only
        while this run's lease is the current one."""
        from psycopg.types.json import Jsonb

        with self._mutex:
            if record is None:
                self._link().write("delete from jogg_flow_videos where state = %(state)s and key = %(key)s "
                                   "and exists (select 1 from lease)", {"state": self.name, "key": key})
                self.videos.pop(key, None)
            else:
                self._link().write("insert into jogg_flow_videos (state, key, record) select %(state)s, "
                                   "%(key)s, %(record)s from lease on conflict (state, key) do update set "
                                   "record = excluded.record, updated_at = now()",
                                   {"state": self.name, "key": key, "record": Jsonb(record)})
                self.videos[key] = copy.deepcopy(record)

    def set_identity(self, identity: dict[str, Any]) -> None:
        """Record the API this state describes."""
        from psycopg.types.json import Jsonb

        with self._mutex:
            if identity != self.identity:
                self._link().write("update jogg_flow_states set identity = %(identity)s where name = "
                                   "%(state)s and exists (select 1 from lease)",
                                   {"state": self.name, "identity": Jsonb(identity)})
                self.identity = dict(identity)

    def replace_all(self, videos: dict[str, Record], identity: dict[str, Any] | None) -> None:
        """Make this state hold exactly `videos` and `identity`, in one transaction (push)."""
        from psycopg.types.json import Jsonb

        def write(conn: psycopg.Connection[Any]) -> None:
            conn.execute("delete from jogg_flow_videos where state = %s", (self.name,))
            conn.execute("update jogg_flow_states set identity = %s where name = %s",
                         (Jsonb(identity) if identity is not None else None, self.name))
            with conn.cursor() as cur:
                cur.executemany("insert into jogg_flow_videos (state, key, record) values (%s, %s, %s)",
                                [(self.name, k, Jsonb(r)) for k, r in videos.items()])
        with self._mutex:
            self._link().fenced(write)
            self.videos = copy.deepcopy(videos)
            self.identity = identity

    def save(self) -> None:
        """Nothing to fold: every put is committed."""

    def close(self) -> None:
        """Release the lease and close the connection."""
        link, self.link = self.link, None
        if link is not None:
            link.close()

    def _link(self) -> Link:
        if self.link is None:
            raise StateError(f"{self.where}: the connection is closed; this run holds no lock any more")
        return self.link


def _has_tables(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("select to_regclass('jogg_flow_videos')").fetchone()
    return bool(row and row[0])


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
