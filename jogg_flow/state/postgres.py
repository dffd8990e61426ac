"""The state in PostgreSQL: one row per video, written in its own transaction.

The lock is a session advisory lock in jogg-flow's own namespace, taken on a dedicated
connection that also carries every write: when the holder dies its session ends and the
lock with it, and a runner whose session is gone cannot write any more (psycopg never
reconnects on its own). Requires psycopg 3 (`pip install 'jogg-flow[postgres]'`).
"""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Any

from ..errors import StateError
from .dsn import describe as describe_dsn
from .dsn import redact, split
from .lock import describe as describe_holder
from .lock import holder_info
from .records import check_record

if TYPE_CHECKING:
    import psycopg

Record = dict[str, Any]
NAMESPACE = 0x4A46  # advisory lock class id of jogg-flow ("JF"); the state name hashes into objid
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
"""


def connect(dsn: str, what: str) -> psycopg.Connection[Any]:
    """An autocommit connection that prepares nothing on the server, or StateError
    without the password."""
    try:
        import psycopg
    except ImportError:
        raise StateError("a PostgreSQL state needs psycopg 3: pip install 'jogg-flow[postgres]'") from None
    try:
        # prepare_threshold=None: a statement prepared on one server connection is unknown
        # (or already known) on the next one a transaction pooler hands out.
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10, application_name="jogg-flow",
                               prepare_threshold=None)
    except psycopg.Error as err:
        raise StateError(redact(f"{what}: cannot connect ({_first_line(err)})", dsn)) from None
    return conn


def ensure_schema(conn: psycopg.Connection[Any]) -> None:
    """Create jogg-flow's tables once; concurrent first runs wait for each other."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s, 0)", (NAMESPACE,))
        conn.execute(SCHEMA)


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
        self._conn: psycopg.Connection[Any] | None = None
        self._locked = False
        self._mutex = threading.Lock()

    @classmethod
    def open(cls, location: str, default_name: str, *, lock: bool) -> PgStore:
        """Connect and read; with `lock`, hold the state's advisory lock until close()."""
        store = cls(location, default_name)
        store._conn = connect(store.dsn, store.where)
        try:
            if lock:
                store._run(ensure_schema, store._conn)
                store._run(store._lock)
            if lock or store._run(store._has_tables):  # reading creates nothing
                store._run(store._read)
        except BaseException:
            store.close()
            raise
        if not lock:
            store.close()
        return store

    def _lock(self) -> None:
        conn = self._require()
        got = conn.execute("select pg_try_advisory_lock(%s, hashtext(%s))",
                           (NAMESPACE, self.name)).fetchone()
        row = conn.execute("select holder from jogg_flow_states where name = %s", (self.name,)).fetchone()
        if not (got and got[0]):
            raise StateError(f"{self.where} is locked by another run: {describe_holder(row and row[0])}; "
                             "it is freed when that run ends (its session closes)")
        self.took_over = row[0] if row and row[0] else None
        self._locked = True
        from psycopg.types.json import Jsonb

        conn.execute("insert into jogg_flow_states (name, lineage, holder) "
                     "values (%s, gen_random_uuid()::text, %s) "
                     "on conflict (name) do update set holder = excluded.holder",
                     (self.name, Jsonb(holder_info())))

    def _has_tables(self) -> bool:
        row = self._require().execute("select to_regclass('jogg_flow_videos')").fetchone()
        return bool(row and row[0])

    def _read(self) -> None:
        conn = self._require()
        with conn.transaction():  # one snapshot, whichever server connection serves it
            self._read_in(conn)

    def _read_in(self, conn: psycopg.Connection[Any]) -> None:
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
        """Record (or with None, forget) one video; committed before it returns."""
        with self._mutex:
            self._run(self._write, key, record)
            if record is None:
                self.videos.pop(key, None)
            else:
                self.videos[key] = copy.deepcopy(record)

    def _write(self, key: str, record: Record | None) -> None:
        from psycopg.types.json import Jsonb

        conn = self._require()
        if record is None:
            conn.execute("delete from jogg_flow_videos where state = %s and key = %s", (self.name, key))
        else:
            conn.execute("insert into jogg_flow_videos (state, key, record) values (%s, %s, %s) "
                         "on conflict (state, key) do update set record = excluded.record, "
                         "updated_at = now()", (self.name, key, Jsonb(record)))

    def set_identity(self, identity: dict[str, Any]) -> None:
        """Record the API this state describes."""
        from psycopg.types.json import Jsonb

        with self._mutex:
            if identity != self.identity:
                self._run(lambda: self._require().execute(
                    "update jogg_flow_states set identity = %s where name = %s",
                    (Jsonb(identity), self.name)))
                self.identity = dict(identity)

    def replace_all(self, videos: dict[str, Record], identity: dict[str, Any] | None) -> None:
        """Make this state hold exactly `videos` and `identity`, in one transaction (push)."""
        from psycopg.types.json import Jsonb

        def write() -> None:
            conn = self._require()
            with conn.transaction():
                conn.execute("delete from jogg_flow_videos where state = %s", (self.name,))
                conn.execute("update jogg_flow_states set identity = %s where name = %s",
                             (Jsonb(identity) if identity is not None else None, self.name))
                with conn.cursor() as cur:
                    cur.executemany("insert into jogg_flow_videos (state, key, record) values (%s, %s, %s)",
                                    [(self.name, k, Jsonb(r)) for k, r in videos.items()])
        with self._mutex:
            self._run(write)
            self.videos = copy.deepcopy(videos)
            self.identity = identity

    def save(self) -> None:
        """Nothing to fold: every put is committed."""

    def close(self) -> None:
        """End the session, which frees the lock."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if self._locked and not conn.closed:
                    conn.execute("update jogg_flow_states set holder = null where name = %s", (self.name,))
            except Exception:  # noqa: BLE001, S110 - the lock goes with the session anyway
                pass
            conn.close()

    def _require(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            raise StateError(f"{self.where}: the connection is closed; this run holds no lock any more")
        return self._conn

    def _run(self, fn: Any, *args: Any) -> Any:
        import psycopg

        try:
            return fn(*args)
        except psycopg.Error as err:
            raise StateError(redact(f"{self.where}: {_first_line(err)}; the state holds everything "
                                    "up to this step, and the next run resumes from there",
                                    self.dsn)) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
