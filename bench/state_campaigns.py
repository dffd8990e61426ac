"""State campaigns: runners sharing one key through PostgreSQL, SIGKILLs over the
PostgreSQL store, and SIGKILLs with the snapshot deleted or altered between them.

    python bench/state_campaigns.py three-runners --videos 10          # PostgreSQL vs files
    python bench/state_campaigns.py pg-crash --kills 25 --seeds 0 1 [--pooled]
    python bench/state_campaigns.py tamper --kills 25 --seeds 0 1 2
    python bench/state_campaigns.py pooled --runners 20 50 100 --videos 2 --pool 4
    python bench/state_campaigns.py runners --runners 20 --videos 10 --window 2 --repeat 3
    python bench/state_campaigns.py key-below --runners 3 --videos 20 --key-limit 6 --window 1 \
        --repeat 3 [--before DIR] [--no-hint]

`key-below`: the key's real limit (at the sandbox) is below the runners' --post-rate 20 per
window; `--before DIR` also runs the applies from another source tree (e.g. `git archive
main | tar -x -C DIR`), interleaved with this one's, for a before/after.

PostgreSQL comes from `--dsn`, else a throwaway server is started (bench/pgserver.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.campaigns import KEY, settle, write_manifest  # noqa: E402
from bench.paired import child_env  # noqa: E402
from jogg_flow import state as stores  # noqa: E402
from jogg_flow.sandbox import Config, Sandbox  # noqa: E402

POLL = ("--poll-interval", "0.05", "--poll-max", "0.2")


def write_named(directory: str, tag: str, n: int, version: str = "open") -> str:
    """A manifest named `tag` with n products of its own."""
    return write_manifest(directory, n, version, name=tag)


# Children run with bytecode caching on, as an installed package runs (pip compiles on
# install): under PYTHONDONTWRITEBYTECODE=1 each of 20 runners recompiled every module it
# imports, about 0.5 s of CPU each before its first POST.
_PYCACHE = tempfile.TemporaryDirectory(prefix="jf-bench-pycache-")
TREE: list[str] = []  # another source tree the applies run from (key-below --before)


def start(url: str, manifest: str, state: str, *extra: str) -> subprocess.Popen[str]:
    """A real `jogg-flow apply` process against the sandbox at `url`."""
    return subprocess.Popen(
        [sys.executable, "-m", "jogg_flow", "apply", manifest, "--api-base", url, "--state", state,
         *POLL, "--output", "json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=TREE[0] if TREE else None,
        env=child_env(_PYCACHE.name, JOGG_API_KEY=KEY, **({"PYTHONPATH": TREE[0]} if TREE else {})))


def posts(stats: dict[str, Any]) -> int:
    """POSTs the sandbox answered (accepted or not)."""
    return sum(n for route, n in stats["requests"].items() if route.startswith("POST"))


def check(records: Mapping[str, dict[str, Any]], stats: dict[str, Any], n: int) -> dict[str, int]:
    """Every video succeeded with its URL, and no product was rendered twice."""
    forgotten = sum(1 for r in records.values()
                    if r.get("status") != "succeeded" or not (r.get("outputs") or {}).get("video_url"))
    duplicates = sum(v - 1 for v in stats["renders_per_product"].values())
    assert len(records) == n, (len(records), n)
    return {"duplicate_renders": duplicates, "forgotten_urls": forgotten}


class ConnectionPeak:
    """The most server connections open to one database at once while it runs, looked at
    every 20 ms over `direct` (a connection straight to the server, not counted)."""

    def __init__(self, direct: str | None) -> None:
        self.direct, self.peak = direct, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ConnectionPeak:
        if self.direct:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.direct:
            self._thread.join()

    def _watch(self) -> None:
        import psycopg

        assert self.direct
        with psycopg.connect(self.direct, autocommit=True, prepare_threshold=None) as conn:
            while not self._stop.wait(0.02):
                row = conn.execute("select count(*) from pg_stat_activity where datname = "
                                   "current_database() and backend_type = 'client backend' "
                                   "and pid <> pg_backend_pid()").fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)


def three_runners(directory: str, dsn: str | None, n: int = 10, limit: int = 20, window: float = 1.0,
                  runners: int = 3, direct: str | None = None, render_seconds: float = 30.0,
                  parallelism: int = 4, strict: bool = True, extra: tuple[str, ...] = (),
                  noop_too: bool = False, key_limit: int | None = None, hint: bool = True) -> dict[str, Any]:
    """`runners` applies at once on their own manifests with one key; the state (and so the
    POST budget) in PostgreSQL when `dsn` is given, else each in its own file. `direct`, the
    same database without a pooler between, counts server connections (default: `dsn`).
    `key_limit`: the key's real limit at the sandbox, when lower than the runners' `limit`;
    without `hint`, its 429s carry no Retry-After (as JoggAI's)."""
    real = key_limit or limit
    config = Config(time_scale=60.0, render_seconds=render_seconds, post_limit=real,
                    post_window=window * 60.0, retry_hint=hint)
    manifests = [write_named(directory, f"shop{i}", n) for i in range(runners)]
    with Sandbox(config) as sb, ConnectionPeak(direct or dsn) as connections:
        t0, t0_wall = time.monotonic(), time.time()
        procs = [start(sb.url, m, dsn or os.path.join(directory, f"s{i}.json"),
                       "--post-rate", f"{limit}/{window:g}s", "--parallelism", str(parallelism), *extra)
                 for i, m in enumerate(manifests)]
        outs = [p.communicate(timeout=1800) for p in procs]
        makespan = time.monotonic() - t0
        stats = sb.stats()
        noop = _noop(sb.url, manifests, dsn, extra) if noop_too and dsn else None
    errors = [_why(out, err) for p, (out, err) in zip(procs, outs, strict=True) if p.returncode != 0]
    if dsn and strict:  # with a budget per process, 429s may exhaust the retries: that is the point
        for p, (_, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, (p.returncode, err[-3000:])
    total = posts(stats)
    renders = stats["renders_per_project"]
    # The last POST cannot leave before (ceil(P/L)-1) windows; its render then takes
    # render_seconds on the sandbox's clock (60 API seconds per real one).
    accepted = total - stats["rate_limited"]  # a 429 takes no place in the key's window
    bound = (math.ceil(accepted / real) - 1) * window + render_seconds / 60.0
    first = _first_post(outs) - t0_wall
    return {"store": "postgresql" if dsn else "files", "runners": runners, "videos": runners * n,
            "first_post_s": round(first, 2),
            "after_first_post_over_bound": round((makespan - first) / bound, 3),
            "posts": total, "limit": f"{limit}/{window:g}s",
            **({"key_limit": f"{key_limit}/{window:g}s"} if key_limit else {}),
            "bound_s": round(bound, 2), "makespan_s": round(makespan, 2),
            "makespan_over_bound": round(makespan / bound, 2), "rate_limited_429": stats["rate_limited"],
            "exit_codes": [p.returncode for p in procs], "peak_server_connections": connections.peak,
            "renders": sum(renders.values()), "max_renders_per_project": max(renders.values()),
            "renders_per_video": round(sum(renders.values()) / (runners * n), 3),
            **({"first_error": errors[0]} if errors else {}),
            **({"noop_makespan_s": round(noop, 2)} if noop is not None else {})}


def _first_post(outs: list[tuple[str, str]]) -> float:
    """When the first POST's answer was in (its step event's time stamp), across runners."""
    stamps = [json.loads(line)["ts"] for out, _ in outs for line in out.splitlines()
              if line.startswith('{"event": "step"')]
    return min(stamps, default=float("nan"))


def _noop(url: str, manifests: list[str], dsn: str, extra: tuple[str, ...]) -> float:
    """The same applies again, every video up to date: what starting that many runners,
    taking their leases and reading their states costs on this machine."""
    t0 = time.monotonic()
    procs = [start(url, m, dsn, *extra) for m in manifests]
    for p in procs:
        p.communicate(timeout=1800)
    return time.monotonic() - t0


def _why(stdout: str, stderr: str) -> str:
    """What made a run fail: its first video that did not succeed, else its last error line."""
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "video" and event.get("status") != "succeeded":
            return f"{event.get('key')}: {event.get('status')}: {event.get('message')}"
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else "no message"


def pg_crash(directory: str, dsn: str, kills: int, seed: int, n: int = 20) -> dict[str, Any]:
    """SIGKILL real applies over a PostgreSQL state at random instants, then let one finish."""
    rng = random.Random(seed)
    manifest = write_named(directory, f"crash{seed}", n)
    with Sandbox(Config(time_scale=60.0, render_seconds=60.0, latency=0.02)) as sb:
        for _ in range(kills):
            _kill_one(sb, manifest, dsn, rng, f"crash{seed}")
        needs_check = finish(sb, manifest, dsn, f"crash{seed}")
        stats = sb.stats()
    records = stores.load(dsn, f"crash{seed}").videos
    return {"store": "postgresql", "seed": seed, "videos": n, "kills": kills,
            "needs_check_settled": needs_check, "renders": stats["renders_accepted"],
            **check(records, stats, n)}


def _kill_one(sb: Sandbox, manifest: str, location: str, rng: random.Random, name: str = "") -> None:
    """Start a real apply and SIGKILL it at a random instant (over PostgreSQL, then wait
    for its lease to end, as the next run would have to)."""
    proc = start(sb.url, manifest, location, "--post-rate", "20/1s", "--parallelism", "3")
    time.sleep(rng.uniform(0.4, 1.2))
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    if stores.is_postgres(location):
        lease_ended(location, name)


def lease_ended(dsn: str, name: str, timeout: float = 120.0) -> None:
    """Return once no live lease holds the PostgreSQL state `name` (a killed run's ends
    JOGG_FLOW_PG_LEASE seconds after its last renewal)."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        while True:
            row = conn.execute("select to_regclass('jogg_flow_leases') is not null").fetchone()
            live = row and row[0] and conn.execute(
                "select expires_at > clock_timestamp() from jogg_flow_leases where name = %s",
                (name,)).fetchone()
            if not (live and live[0]):
                return
            assert time.monotonic() < deadline, f"the lease on {name} never ended"
            time.sleep(0.1)


def finish(sb: Sandbox, manifest: str, location: str, name: str) -> int:
    """Apply until a run exits 0, settling needs-check videos between runs as a user would
    (a kill around a render POST leaves some unclear); return how many were settled."""
    settled = 0
    for _ in range(4):
        final = start(sb.url, manifest, location, "--post-rate", "20/1s")
        _, err = final.communicate(timeout=300)
        if final.returncode == 0:
            return settled
        got = settle(location, sb.stats(), name)
        assert final.returncode == 1 and got, err
        settled += got
    raise AssertionError("apply did not finish in 4 runs")


def _tamper(path: str, rng: random.Random) -> str:
    """Delete the snapshot or alter it the ways a hand or a bad cache restore would."""
    if not os.path.exists(path):
        return "none"
    how = rng.choice(["delete", "lineage", "videos", "serial"])
    if how == "delete":
        os.unlink(path)
        return how
    with open(path) as fh:
        snap = json.load(fh)
    if how == "lineage":
        digits = [i for i, c in enumerate(snap["lineage"]) if c in "0123456789abcdef"]
        i = rng.choice(digits)
        old = snap["lineage"]
        snap["lineage"] = old[:i] + ("0" if old[i] != "0" else "1") + old[i + 1:]
    elif how == "videos":
        for key in rng.sample(sorted(snap["videos"]), k=len(snap["videos"]) // 2):
            del snap["videos"][key]
    else:
        snap["serial"] = max(0, snap["serial"] - 1)
    with open(path, "w") as fh:
        json.dump(snap, fh)
    return how


def tamper(directory: str, kills: int, seed: int, n: int = 20) -> dict[str, Any]:
    """SIGKILL real applies; between kills delete or alter the snapshot; then let one finish."""
    rng = random.Random(seed)
    state = os.path.join(directory, f"tamper{seed}.json")
    manifest = write_named(directory, f"tamper{seed}", n)
    done: dict[str, int] = {}
    with Sandbox(Config(time_scale=60.0, render_seconds=60.0, latency=0.02)) as sb:
        for _ in range(kills):
            _kill_one(sb, manifest, state, rng)
            how = _tamper(state, rng)
            done[how] = done.get(how, 0) + 1
        needs_check = finish(sb, manifest, state, f"tamper{seed}")
        stats = sb.stats()
    records = stores.load(state, f"tamper{seed}").videos
    return {"store": "file", "seed": seed, "videos": n, "kills": kills, "tampered": done,
            "needs_check_settled": needs_check, "renders": stats["renders_accepted"],
            **check(records, stats, n)}


def pooled(server: Any, directory: str, runners: int, n: int, pool: int, direct: bool) -> dict[str, Any]:
    """`runners` applies at once on one key, each on its own manifest of `n` videos, through
    a PgBouncer in transaction mode with `pool` server connections (or directly)."""
    from bench.pgserver import PgBouncer

    bouncer = None if direct else PgBouncer(server, pool_size=pool)
    try:
        dsn = server.fresh_db() if bouncer is None else bouncer.fresh_db()
        # Slower polls than the tests': a hundred runners share the machine with the sandbox.
        figures = three_runners(directory, dsn, n, runners=runners, render_seconds=60.0, parallelism=2,
                                direct=dsn if bouncer is None else bouncer.direct(dsn), strict=False,
                                extra=("--poll-interval", "0.5", "--poll-max", "1"), noop_too=True)
    finally:
        if bouncer:
            bouncer.close()
    return {**figures, "via": "direct" if direct else f"pgbouncer transaction pool {pool}",
            "exit_codes": {str(c): figures["exit_codes"].count(c) for c in set(figures["exit_codes"])}}


def many_runners(server: Any, directory: str, count: int, n: int, window: float, repeat: int,
                 dsn: str | None = None) -> dict[str, Any]:
    """`count` applies at once on one key and one PostgreSQL (each its own manifest of `n`
    videos), at 20 POSTs per window of `window` seconds, `repeat` times on fresh databases:
    the median makespan over the bound, its spread, 429s and renders per video."""
    # One runner first: bytecode written to the cache the runners share, as installed.
    three_runners(tempfile.mkdtemp(dir=directory), dsn or server.fresh_db(), 1, window=window, runners=1)
    rows = []
    for i in range(repeat):
        db = dsn or server.fresh_db()
        rows.append(three_runners(tempfile.mkdtemp(dir=directory), db, n, window=window, runners=count,
                                  render_seconds=30.0, parallelism=4))
        print(json.dumps({"run": i, **rows[-1]}), file=sys.stderr, flush=True)
    ratios = sorted(r["makespan_s"] / r["bound_s"] for r in rows)
    return {"runners": count, "videos": count * n, "window_s": window, "posts": rows[0]["posts"],
            "bound_s": rows[0]["bound_s"], "makespans_s": [r["makespan_s"] for r in rows],
            "first_post_s": [r["first_post_s"] for r in rows],
            "after_first_post_over_bound": [r["after_first_post_over_bound"] for r in rows],
            "median_over_bound": round(statistics.median(ratios), 3),
            "spread": round(ratios[-1] - ratios[0], 3),
            "rate_limited_429": sum(r["rate_limited_429"] for r in rows),
            "max_renders_per_project": max(r["max_renders_per_project"] for r in rows),
            "renders_per_video": [r["renders_per_video"] for r in rows],
            "peak_server_connections": max(r["peak_server_connections"] for r in rows)}


def key_below(server: Any, directory: str, count: int, n: int, key_limit: int, window: float,
              repeat: int, before: str | None, hint: bool) -> list[dict[str, Any]]:
    """`count` applies on one key and one PostgreSQL at --post-rate 20 per `window`, the key's
    real limit `key_limit` per window: 429s, makespan and renders per video, medians of
    `repeat` runs on fresh databases; with `before` (another source tree), its runs and this
    tree's interleaved."""
    trees = ([os.path.abspath(before)] if before else []) + [""]
    rows: dict[str, list[dict[str, Any]]] = {tree: [] for tree in trees}
    for i in range(repeat):
        for tree in trees:
            TREE[:] = [tree] if tree else []
            rows[tree].append(three_runners(tempfile.mkdtemp(dir=directory), server.fresh_db(), n,
                                            window=window, runners=count, key_limit=key_limit,
                                            strict=False, hint=hint))
            print(json.dumps({"run": i, "tree": tree or "this one", **rows[tree][-1]}), file=sys.stderr,
                  flush=True)
    TREE[:] = []
    return [{"tree": "before" if tree else "this one", "runners": count, "videos": count * n,
             "post_rate": f"20/{window:g}s", "key_limit": f"{key_limit}/{window:g}s", "retry_after": hint,
             "rate_limited_429": [r["rate_limited_429"] for r in got],
             "median_429": statistics.median(r["rate_limited_429"] for r in got),
             "makespans_s": [r["makespan_s"] for r in got],
             "median_makespan_s": statistics.median(r["makespan_s"] for r in got),
             "bound_s": got[0]["bound_s"], "exit_codes": [r["exit_codes"] for r in got],
             "renders_per_video": [r["renders_per_video"] for r in got],
             "max_renders_per_project": max(r["max_renders_per_project"] for r in got)}
            for tree, got in rows.items()]


def _run(args: argparse.Namespace, server: Any, bouncer: Any, tmp: str) -> None:
    if args.kind == "key-below":
        for count in args.runners:
            for row in key_below(server, tmp, count, args.videos or 10, args.key_limit, args.window,
                                 args.repeat, args.before, not args.no_hint):
                print(json.dumps(row), flush=True)
        return
    if args.kind == "runners":
        for count in args.runners:
            print(json.dumps(many_runners(server, tmp, count, args.videos or 10, args.window, args.repeat,
                                          args.dsn)), flush=True)
        return
    if args.kind == "pooled":
        for count in args.runners:
            print(json.dumps(pooled(server, tempfile.mkdtemp(dir=tmp), count, args.videos or 2,
                                    args.pool, args.direct)), flush=True)
        return
    if args.kind == "three-runners":
        shared = args.dsn or (server.fresh_db() if server else None)
        for dsn in (shared, None):
            print(json.dumps(three_runners(tempfile.mkdtemp(dir=tmp), dsn, args.videos or 10)))
        return
    for seed in args.seeds:
        if args.kind == "pg-crash":
            dsn = args.dsn or (bouncer or server).fresh_db()
            print(json.dumps(pg_crash(tmp, dsn, args.kills, seed, args.videos or 20)))
        else:
            print(json.dumps(tamper(tmp, args.kills, seed, args.videos or 20)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["three-runners", "pg-crash", "tamper", "pooled", "runners", "key-below"])
    ap.add_argument("--window", type=float, default=2.0, help="runners, key-below: seconds per POST window")
    ap.add_argument("--key-limit", type=int, default=6, help="key-below: the key's real POSTs per window")
    ap.add_argument("--before", help="key-below: also run the applies from this source tree, interleaved")
    ap.add_argument("--no-hint", action="store_true", help="key-below: 429s without Retry-After, as JoggAI's")
    ap.add_argument("--repeat", type=int, default=3, help="runners: runs, for a median")
    ap.add_argument("--runners", type=int, nargs="+", default=[20, 50, 100],
                    help="pooled: how many applies at once, each on its own manifest")
    ap.add_argument("--pool", type=int, default=4, help="pooled: PgBouncer's server connections")
    ap.add_argument("--direct", action="store_true", help="pooled: without PgBouncer, for comparison")
    ap.add_argument("--pooled", action="store_true", help="pg-crash: through a transaction-mode PgBouncer")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--kills", type=int, default=25)
    ap.add_argument("--videos", type=int, default=None, help="per manifest; default 10 (three-runners), 20")
    ap.add_argument("--dsn", help="a PostgreSQL database to use (default: start a throwaway server)")
    args = ap.parse_args()
    server = None
    if args.kind != "tamper" and not args.dsn:
        from bench.pgserver import Postgres

        server = Postgres()
    bouncer = None
    if args.pooled and server:
        from bench.pgserver import PgBouncer

        bouncer = PgBouncer(server)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _run(args, server, bouncer, tmp)
    finally:
        if bouncer:
            bouncer.close()
        if server:
            server.close()


if __name__ == "__main__":
    main()
