"""A throwaway PostgreSQL server for tests and benches, started as the `postgres` OS user
(initdb refuses root) from the binaries under /usr/lib/postgresql/*/bin."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile


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


class Postgres:
    """127.0.0.1 on a free port, trust auth, plus a password-protected role `jf_secret`."""

    password = "pg-Secr3t-7f2a9c"

    def __init__(self) -> None:
        self.bindir = os.path.dirname(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1])
        self.base = tempfile.mkdtemp(prefix="jf-pg-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.data, self.sock = os.path.join(self.base, "data"), os.path.join(self.base, "sock")
        os.mkdir(self.sock)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
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

    def fresh_db(self) -> str:
        """A new empty database; its DSN uses the password-protected role."""
        self.n += 1
        name = f"jf{self.n}_{os.getpid()}"
        self.sql(f"create database {name}")
        return f"postgresql://jf_secret:{self.password}@127.0.0.1:{self.port}/{name}"
