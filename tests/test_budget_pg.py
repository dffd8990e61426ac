"""The shared POST budget adapts to 429s for every runner on the key: the limit in force
lives in PostgreSQL, a burst of 429s in one window is one cut, and it creeps back one POST
per quiet window up to the key's ceiling. Real PostgreSQL, directly and through PgBouncer."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from bench.campaigns import KEY
from bench.state_campaigns import three_runners, write_named
from jogg_flow.sandbox import Config, Sandbox
from jogg_flow.state.budget_pg import PgPostBudget
from jogg_flow.state.postgres import ensure_schema


def _limits(dsn):
    """The key's (limit in force, ceiling), read straight from the database."""
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        return conn.execute("select in_force, ceiling from jogg_flow_post_limits").fetchall()


def _look(budget):
    """One look at the window (a slot taken and given back unsent)."""
    with budget.slot() as slot:
        slot.sent = False


def test_a_burst_of_429s_from_several_runners_in_one_window_is_one_cut(pg_any):
    runners = [PgPostBudget(pg_any, KEY, limit=20, window=30.0) for _ in range(3)]
    other = PgPostBudget(pg_any, KEY + "-other", limit=20, window=30.0)
    got: list[int] = []
    lock = threading.Lock()

    def meet_429s(budget):
        for _ in range(4):
            cut = budget.throttled()
            with lock:
                got.append(cut)

    threads = [threading.Thread(target=meet_429s, args=(b,)) for b in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [15] * 12  # twelve 429s from three runners in one window: a quarter off, once
    assert sorted(_limits(pg_any)) == [(15, 20), (20, 20)]  # the other key keeps its 20
    # Every runner on the key now counts against 15, though each asked for 20.
    for budget in runners:
        _look(budget)
        assert budget._seen[2] == 15
    # A runner whose last cut is a window behind it (0.2 s windows) cuts again.
    late = PgPostBudget(pg_any, KEY, limit=20, window=0.2)
    time.sleep(0.3)
    assert late.throttled() == 11
    for budget in (*runners, other, late):
        budget.close()


def test_the_limit_creeps_back_one_per_quiet_window_up_to_the_ceiling(pg_any):
    budget = PgPostBudget(pg_any, KEY, limit=8, window=0.2)
    patient = PgPostBudget(pg_any, KEY, limit=8, window=30.0)  # its windows are never quiet yet
    assert budget.throttled() == 6
    _look(patient)
    assert _limits(pg_any) == [(6, 8)]
    seen = []
    for _ in range(4):
        time.sleep(0.5)  # two and a half quiet windows: still one step for the look after them
        _look(budget)
        seen.append(_limits(pg_any)[0][0])
    assert seen == [7, 8, 8, 8]  # never above the ceiling
    assert budget.throttled() == 6
    _look(patient)  # a 429 just now: no quiet window of 30 s since
    assert _limits(pg_any) == [(6, 8)]
    budget.close()
    patient.close()


def test_the_keys_ceiling_is_the_lowest_limit_asked_by_runners_posting_on_it(pg):
    high = PgPostBudget(pg, KEY, limit=20, window=30.0)
    with high.slot():  # a runner POSTing on the key
        low = PgPostBudget(pg, KEY, limit=10, window=0.2)
        assert _limits(pg) == [(10, 10)]
        assert high.throttled() == 7
    time.sleep(0.3)
    for _ in range(5):
        _look(low)
        time.sleep(0.25)
    assert _limits(pg) == [(10, 10)]  # back to the lowest asked, not to 20
    high.close()
    low.close()
    # Nobody POSTs on the key any more: a new runner's own limit is the ceiling; what the
    # 429s taught stays in force and creeps back from there.
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute("delete from jogg_flow_post_slots")
        conn.execute("update jogg_flow_post_limits set in_force = 5")
    PgPostBudget(pg, KEY, limit=20, window=30.0).close()
    assert _limits(pg) == [(5, 20)]


def test_a_database_of_the_previous_release_gets_the_table_by_itself(pg):
    with psycopg.connect(pg, autocommit=True, prepare_threshold=None) as conn:
        ensure_schema(conn)
        conn.execute("drop table jogg_flow_post_limits")  # as the previous release left it
    budget = PgPostBudget(pg, KEY, limit=20, window=30.0)
    assert budget.throttled() == 15
    _look(budget)
    budget.close()
    assert _limits(pg) == [(15, 20)]


def test_a_role_that_may_no_longer_create_tables_keeps_the_fixed_budget(pg, postgres_server, tmp_path, run):
    # The previous release's tables, made by a role that could create them; the runs now use
    # one that may only read and write them.
    with psycopg.connect(pg, autocommit=True, prepare_threshold=None) as conn:
        ensure_schema(conn)
        conn.execute("drop table jogg_flow_post_limits")
        row = conn.execute("select current_database()").fetchone()
        assert row is not None
        db = row[0]
        role = f"{db}_dml"
        conn.execute(f"create role {role} login")
        conn.execute(f"revoke create on schema public from public, {role}")
        conn.execute(f"grant select, insert, update, delete on all tables in schema public to {role}")
        conn.execute(f"grant usage on all sequences in schema public to {role}")
    dml = f"postgresql://{role}@127.0.0.1:{postgres_server.port}/{db}"
    budget = PgPostBudget(dml, KEY, limit=20, window=30.0)
    assert budget.throttled() == 20  # nowhere to share a lower limit: the one asked stays
    _look(budget)
    budget.close()
    manifest = write_named(str(tmp_path), "shop", 2)
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0)) as sb:
        result = run("apply", manifest, "--api-base", sb.url, "--state", dml, "--poll-interval", "0.05",
                     env={"JOGG_API_KEY": KEY, "JOGG_API_BASE": None, "JOGG_FLOW_STATE": None})
    assert result.exit_code == 0, result.stderr
    with psycopg.connect(pg, autocommit=True) as conn:
        assert conn.execute("select to_regclass('jogg_flow_post_limits')").fetchone() == (None,)


def test_runners_on_a_key_whose_real_rate_is_lower_learn_it_together(pg, tmp_path):
    # Three real applies at --post-rate 12/1s on a key JoggAI (the sandbox) allows 4 per
    # second. Each 429 pauses every runner, but without a shared lower limit all of them
    # burst again after every pause: 55-58 429s on the old code, 16-18 with it.
    figures = three_runners(str(tmp_path), pg, n=8, limit=12, key_limit=4)
    assert figures["exit_codes"] == [0, 0, 0]
    assert figures["renders"] == 24 and figures["max_renders_per_project"] == 1
    assert figures["rate_limited_429"] <= 32
    assert _limits(pg)[0][1] == 12


@pytest.mark.slow
def test_three_runners_through_pgbouncer_learn_a_lower_rate(pooled, pgbouncer, tmp_path):
    figures = three_runners(str(tmp_path), pooled, n=8, limit=12, key_limit=4, direct=pgbouncer.direct(pooled))
    assert figures["exit_codes"] == [0, 0, 0]
    assert figures["renders"] == 24 and figures["max_renders_per_project"] == 1
    assert figures["rate_limited_429"] <= 32
