"""Per-step write cost of each state store: what a durable `put` costs before its POST.

    python bench/state_bench.py --puts 300 [--dir DIR] [--dsn postgresql://...]

One process, one run: the file store with an fsync per journal line (the default), the
same without it (what the fsync costs), and PostgreSQL (a committed upsert per step; a
throwaway local server unless --dsn). Prints microseconds per put and ratios side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jogg_flow.state import State  # noqa: E402


def record(i: int) -> dict[str, Any]:
    """A record the size of a real one in mid-run."""
    return {"key": f"p{i}", "status": "rendering", "product_id": 1000 + i, "project_id": f"{i:032x}",
            "steps": {"create": "done", "update": "done", "render": "inflight"}, "tags": ["spring"],
            "inputs": {"url": f"https://shop.example/p/{i}", "details": {"title": f"Product {i}"},
                       "render": {"avatar_id": 37, "voice_id": "en-US-ChristopherNeural"}},
            "history": [], "submitted_at": "2026-11-27T07:00:00Z"}


def per_put(put: Callable[[str, dict[str, Any]], None], puts: int) -> list[float]:
    """Seconds per put, over `puts` puts cycling through 50 videos."""
    times = []
    for n in range(puts):
        t0 = time.perf_counter()
        put(f"p{n % 50}", record(n % 50))
        times.append(time.perf_counter() - t0)
    return times


def file_store(directory: str, puts: int, sync: bool) -> list[float]:
    state = State.load(os.path.join(directory, f"bench-{'sync' if sync else 'nosync'}.json"))
    state.sync = sync
    state.put("warm", record(0))
    try:
        return per_put(state.put, puts)
    finally:
        state.close()


def pg_store(dsn: str, puts: int) -> list[float]:
    from jogg_flow.state.postgres import PgStore

    store = PgStore.open(dsn, "bench", lock=True)
    store.put("warm", record(0))
    try:
        return per_put(store.put, puts)
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--puts", type=int, default=300)
    ap.add_argument("--dir", help="where the state files go (default: a temp dir under the current one)")
    ap.add_argument("--dsn", help="PostgreSQL to use (default: a throwaway local server)")
    args = ap.parse_args()
    server = None
    rows: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory(dir=args.dir or ".") as tmp:
        rows.append(("file, no fsync", file_store(tmp, args.puts, sync=False)))
        rows.append(("file, fsync per line (default)", file_store(tmp, args.puts, sync=True)))
    dsn, pooled, bouncer = args.dsn, None, None
    if not dsn:
        from bench.pgserver import PgBouncer, Postgres, missing, missing_pgbouncer

        if missing() is None:
            server = Postgres()
            dsn = server.fresh_db()
            if missing_pgbouncer() is None:
                bouncer = PgBouncer(server)
                pooled = bouncer.fresh_db()
    try:
        if dsn:
            rows.append(("postgresql, one fenced upsert", pg_store(dsn, args.puts)))
        if pooled:
            rows.append(("the same through pgbouncer", pg_store(pooled, args.puts)))
    finally:
        if bouncer:
            bouncer.close()
        if server:
            server.close()
    base = statistics.median(rows[0][1])
    print(f"{'store':34} {'median us/put':>14} {'p95 us/put':>11} {'x no-fsync':>11}")
    for name, times in rows:
        med, p95 = statistics.median(times), sorted(times)[int(0.95 * len(times))]
        print(f"{name:34} {med * 1e6:14.0f} {p95 * 1e6:11.0f} {med / base:11.1f}")


if __name__ == "__main__":
    main()
