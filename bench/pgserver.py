"""A throwaway PostgreSQL server for tests and benches, started as the `postgres` OS user
(initdb refuses root) from the binaries under /usr/lib/postgresql/*/bin, and a PgBouncer in
transaction mode in front of it (Debian's `pgbouncer`), as managed PostgreSQL serves it."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def missing() -> str | None:
    """Why no server can be started here, or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg 3 is not installed (pip install '.[postgres]')"
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser: cannot start PostgreSQL as the postgres user"
    return None


def missing_pgbouncer() -> str | None:
    """Why no PgBouncer can be started here, or None."""
    return None if _pgbouncer() else "pgbouncer not found (apt-get install pgbouncer)"


def _pgbouncer() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Postgres:
    """127.0.0.1 on a free port, trust auth, plus a password-protected role `jf_secret`."""

    password = "pg-Secr3t-7f2a9c"

    def __init__(self) -> None:
        self.bindir = os.path.dirname(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1])
        self.base = tempfile.mkdtemp(prefix="jf-pg-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.data, self.sock = os.path.join(self.base, "data"), os.path.join(self.base, "sock")
        os.mkdir(self.sock)
        self.port = _free_port()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "postgres:", self.base], check=True)
        subprocess.run([*self._as, f"{self.bindir}/initdb", "-D", self.data, "-U", "postgres",
                        "--auth=trust", "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as fh:
            fh.write("local all all trust\nhost all jf_secret 127.0.0.1/32 scram-sha-256\n"
                     "host all all 127.0.0.1/32 trust\n")
        self.start()
        self.sql(f"create role jf_secret login password '{self.password}' superuser")
        self.n = 0

    def start(self) -> None:
        """Start (or restart) the server; returns when it accepts connections."""
        subprocess.run([*self._as, f"{self.bindir}/pg_ctl", "-D", self.data, "-w", "-l",
                        os.path.join(self.base, "log"), "-o",
                        f"-h 127.0.0.1 -p {self.port} -k {self.sock} -c max_connections=200",
                        "start"], check=True, capture_output=True)

    def stop(self) -> None:
        """Stop the server (fast: sessions are cut)."""
        subprocess.run([*self._as, f"{self.bindir}/pg_ctl", "-D", self.data, "-w", "-m", "fast",
                        "stop"], check=False, capture_output=True)

    def close(self) -> None:
        """Stop and remove everything."""
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def sql(self, statement: str, db: str = "postgres") -> None:
        """Run one statement as the superuser."""
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/{db}", autocommit=True) as c:
            c.execute(statement)

    def fresh_db(self, port: int | None = None) -> str:
        """A new empty database; its DSN uses the password-protected role (through the
        PgBouncer listening on `port`, when given)."""
        self.n += 1
        name = f"jf{self.n}_{os.getpid()}"
        self.sql(f"create database {name}")
        return f"postgresql://jf_secret:{self.password}@127.0.0.1:{port or self.port}/{name}"

    def connections(self, db: str) -> int:
        """Server connections open to database `db` now, this look aside."""
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
            row = c.execute("select count(*) from pg_stat_activity where datname = %s "
                            "and pid <> pg_backend_pid()", (db,)).fetchone()
        return int(row[0]) if row else 0


class PgBouncer:
    """PgBouncer in `pool_mode = transaction` before `server`, on 127.0.0.1: a client's
    consecutive transactions may run on different server connections, at most `pool_size`
    of them per database and user, as Supabase's and Neon's poolers serve PostgreSQL."""

    def __init__(self, server: Postgres, pool_size: int = 4) -> None:
        self.server, self.pool_size = server, pool_size
        self.base = os.path.join(server.base, f"pgbouncer{_free_port()}")
        os.mkdir(self.base)
        self.port = _free_port()
        auth = os.path.join(self.base, "users.txt")
        with open(auth, "w") as fh:
            fh.write(f'"jf_secret" "{server.password}"\n"postgres" ""\n')
        self.ini = os.path.join(self.base, "pgbouncer.ini")
        with open(self.ini, "w") as fh:
            fh.write(f"""[databases]
* = host=127.0.0.1 port={server.port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {auth}
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 2000
max_db_connections = {pool_size}
server_reset_query =
logfile = {os.path.join(self.base, "log")}
pidfile = {os.path.join(self.base, "pid")}
""")
        os.chmod(auth, 0o600)
        if server._as:
            subprocess.run(["chown", "-R", "postgres:", self.base], check=True)
        self.start()

    def start(self) -> None:
        """Start PgBouncer (as the `postgres` user when root: it refuses root)."""
        subprocess.run([*self.server._as, _pgbouncer() or "pgbouncer", "-d", "-q", self.ini],
                       check=True, capture_output=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def fresh_db(self) -> str:
        """A new empty database, reached through this PgBouncer."""
        return self.server.fresh_db(self.port)

    def direct(self, dsn: str) -> str:
        """The same database as `dsn` (through this PgBouncer), reached without it."""
        return dsn.replace(f"@127.0.0.1:{self.port}/", f"@127.0.0.1:{self.server.port}/")

    def close(self) -> None:
        """Stop PgBouncer (its pidfile names it)."""
        try:
            with open(os.path.join(self.base, "pid")) as fh:
                pid = int(fh.read().strip())
        except (OSError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
