"""Shared helpers: real files in tmp_path, the CLI through CliRunner, a sandbox on 127.0.0.1."""

from __future__ import annotations

import os
import pathlib
import tempfile
import textwrap

import pytest
from click.testing import CliRunner

from jogg_flow.cli import cli
from jogg_flow.sandbox import Config, Sandbox

ROOT = pathlib.Path(__file__).resolve().parent.parent
FAKE_KEY = "jf-test-key-5b2c0d7e9a1f"


@pytest.fixture
def write(tmp_path):
    """write('name.yaml', text) -> path, with the text dedented."""
    def _write(name: str, text: str) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(path)
    return _write


@pytest.fixture
def run():
    """run(*args, env=...) -> click Result, stderr kept apart."""
    def _run(*args: str, env: dict[str, str] | None = None):
        runner = CliRunner()
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)
    return _run


@pytest.fixture
def sandbox():
    """A fast sandbox: one API minute per real second, 30-second renders."""
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0, post_window=60.0)) as sb:
        yield sb


class Postgres:
    """A real PostgreSQL server for the session, started as the `postgres` OS user."""

    password = "pg-Secr3t-7f2a9c"

    def __init__(self, bindir: str, base: pathlib.Path) -> None:
        import socket
        import subprocess

        self.bindir, self.base = bindir, base
        self.data, self.sock = base / "data", base / "sock"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._as_postgres = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        self.sock.mkdir()
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "postgres:", str(base)], check=True)
        subprocess.run([*self._as_postgres, f"{bindir}/initdb", "-D", str(self.data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True)
        hba = self.data / "pg_hba.conf"
        hba.write_text("local all all trust\nhost all jf_secret 127.0.0.1/32 scram-sha-256\n"
                       "host all all 127.0.0.1/32 trust\n")
        self.start()
        self.sql(f"create role jf_secret login password '{self.password}' superuser")
        self.n = 0

    def start(self) -> None:
        import subprocess

        subprocess.run([*self._as_postgres, f"{self.bindir}/pg_ctl", "-D", str(self.data), "-w", "-l",
                        str(self.base / "log"), "-o",
                        f"-h 127.0.0.1 -p {self.port} -k {self.sock} -c fsync=off", "start"],
                       check=True, capture_output=True)

    def stop(self) -> None:
        import subprocess

        subprocess.run([*self._as_postgres, f"{self.bindir}/pg_ctl", "-D", str(self.data), "-w",
                        "-m", "fast", "stop"], check=False, capture_output=True)

    def sql(self, statement: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/{db}", autocommit=True) as c:
            c.execute(statement)

    def fresh_db(self) -> str:
        """A new empty database; its DSN uses the password-protected role."""
        self.n += 1
        name = f"jf{self.n}"
        self.sql(f"create database {name}")
        return f"postgresql://jf_secret:{self.password}@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """The session's PostgreSQL, or a skip saying what is missing."""
    import glob
    import shutil

    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg 3 is not installed (pip install '.[postgres]')")
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    base = pathlib.Path(tempfile.mkdtemp(prefix="jf-pg-", dir="/tmp"))
    os.chmod(base, 0o755)
    server = Postgres(os.path.dirname(found[-1]), base)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg(postgres_server):
    """The DSN of a fresh, empty database on the session's server."""
    return postgres_server.fresh_db()
