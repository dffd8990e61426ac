"""Shared helpers: real files in tmp_path, the CLI through CliRunner, a sandbox on 127.0.0.1."""

from __future__ import annotations

import os
import pathlib
import textwrap

import pytest
from click.testing import CliRunner

from jogg_flow.cli import cli
from jogg_flow.sandbox import Config, Sandbox
from tests.processes import Children

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
def spawn():
    """spawn(args, **popen_kwargs) -> Popen: SIGINT stops the child as from a terminal (even
    under a pytest started as a background job), and whatever still runs at the end of the
    test is killed and reaped."""
    children = Children()
    yield children
    children.reap()


@pytest.fixture
def sandbox():
    """A fast sandbox: one API minute per real second, 30-second renders."""
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0, post_window=60.0)) as sb:
        yield sb


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """The session's PostgreSQL, or a skip saying what is missing."""
    from bench.pgserver import Postgres, missing

    reason = missing()
    if reason:
        # CI installs PostgreSQL and psycopg (.ci/run): there a missing one is a failure,
        # not a quiet skip of every shared-state test.
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    server = Postgres()
    yield server
    server.close()


@pytest.fixture(scope="session")
def pgbouncer(postgres_server):
    """A PgBouncer in transaction mode (4 server connections) before the session's
    PostgreSQL, or a skip saying what is missing (a failure under CI, which installs it)."""
    from bench.pgserver import PgBouncer, missing_pgbouncer

    reason = missing_pgbouncer()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PgBouncer tests: {reason}")
        pytest.skip(reason)
    bouncer = PgBouncer(postgres_server, pool_size=4)
    yield bouncer
    bouncer.close()


LEASE = "3"  # seconds: a killed run's lease on a PostgreSQL state ends quickly in tests


@pytest.fixture
def pg(postgres_server, monkeypatch):
    """The DSN of a fresh, empty database on the session's server (runs started by the
    test hold 3-second leases)."""
    monkeypatch.setenv("JOGG_FLOW_PG_LEASE", LEASE)
    return postgres_server.fresh_db()


@pytest.fixture
def pooled(pgbouncer, monkeypatch):
    """The DSN of a fresh, empty database reached through the transaction-mode PgBouncer."""
    monkeypatch.setenv("JOGG_FLOW_PG_LEASE", LEASE)
    return pgbouncer.fresh_db()


@pytest.fixture(params=["direct", "pooled"])
def pg_any(request):
    """A fresh database, reached directly and (a second run) through PgBouncer."""
    return request.getfixturevalue("pg" if request.param == "direct" else "pooled")
