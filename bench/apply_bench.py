"""How close `apply` sits to the limit the API sets, beside what users would do instead.

    python bench/apply_bench.py                 # N = 10, 100, 1000; baseline at 10 and 100; CLI at 30
    python bench/apply_bench.py --sizes 10 100 --baseline 10
    python bench/apply_bench.py --sizes 10 100 --api all     # open, v1 and v2 in turn

Every figure comes from one run on this machine; ratios compare figures of the same run.
The sandbox runs `--scale` times faster than JoggAI (default 600: a minute is 0.1 s) with
renders of 5 API minutes and JoggAI's budget of 20 POSTs per 60 API seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.baselines import sequential  # noqa: E402
from bench.gen_manifest import manifest  # noqa: E402
from jogg_flow.app import online as runner  # noqa: E402
from jogg_flow.app.scope import Scope  # noqa: E402
from jogg_flow.engine.events import Event  # noqa: E402
from jogg_flow.manifest import load_manifest  # noqa: E402
from jogg_flow.sandbox import Config, Sandbox  # noqa: E402
from jogg_flow.state import State  # noqa: E402

RENDER = 300.0  # API seconds
LIMIT, WINDOW = 20, 60.0
KEY = "bench-key"


def lower_bound(n: int, scale: float) -> float:
    """Real seconds: the last of 2N POSTs cannot go before floor((2N-1)/L) windows, and its
    render then takes RENDER."""
    return ((2 * n - 1) // LIMIT * WINDOW + RENDER) / scale


def write_manifest(tmp: str, n: int, version: str = "open") -> str:
    path = os.path.join(tmp, f"m{n}-{version}.yaml")
    text = manifest(n)
    if version != "open":  # v1 and v2 have no AI template by name
        text = text.replace("    template_name: Card Stacking\n", "")
    with open(path, "w") as fh:
        fh.write(text.replace("\nvars:", f"\napi: {{version: {version}}}\nvars:", 1))
    return path


@contextlib.contextmanager
def sandbox_process(scale: float) -> Iterator[str]:
    """The sandbox in a process of its own, as JoggAI would be: it does not share our GIL."""
    proc = subprocess.Popen([sys.executable, "-m", "jogg_flow", "sandbox", "--port", "0",
                             "--time-scale", str(scale), "--render-seconds", str(RENDER),
                             "--post-limit", str(LIMIT), "--post-window", str(WINDOW)],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        match = re.search(r"(http://127\.0\.0\.1:\d+)", proc.stderr.readline())
        assert match, "the sandbox did not start"
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def stats(url: str) -> dict[str, Any]:
    return dict(requests.get(f"{url}/_sandbox/stats", timeout=10).json())


def ours(tmp: str, n: int, scale: float, version: str = "open") -> dict[str, Any]:
    path = write_manifest(tmp, n, version)
    state = os.path.join(tmp, f"s{n}-{version}.json")
    with sandbox_process(scale) as url:
        scope = Scope(path, state=state, api_base=url, environ={"JOGG_API_KEY": KEY})
        settings = runner.ApplySettings(parallelism=8,
                                        post_rate=(LIMIT, WINDOW / scale),
                                        poll_interval=15.0 / scale, poll_max=120.0 / scale)
        marks: dict[str, float] = {}

        def mark(event: Event) -> None:  # where the time over the bound goes
            if event["event"] == "step":
                marks.setdefault("first_post", time.perf_counter())
                if event.get("step") == "render":
                    marks["last_render"] = time.perf_counter()

        start, cpu = time.perf_counter(), time.process_time()
        result = runner.apply(scope, settings, emit=mark)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert result.exit_code == 0, [o for o in result.outcomes if o.status != "succeeded"][:3]
        first = stats(url)
        again = runner.apply(scope, settings)
        second = stats(url)["requests"] == first["requests"] and again.requests == 0
    stats_ = first
    req: dict[str, int] = stats_["requests"]

    def per_video(method: str) -> float:
        return sum(c for route, c in req.items() if route.startswith(method + " ")) / n

    return {"wall": wall, "bound": lower_bound(n, scale), "r429": stats_["rate_limited"],
            "cpu_ms": 1000 * cpu / n, "start": marks["first_post"] - start,
            "posts_late": marks["last_render"] - start - (lower_bound(n, scale) - RENDER / scale),
            "tail": start + wall - marks["last_render"] - RENDER / scale,
            "post": per_video("POST"), "put": per_video("PUT"), "get": per_video("GET"),
            "second_apply_zero": second}


def cli_makespan(tmp: str, n: int, window: float) -> dict[str, Any]:
    """`jogg-flow apply` as a user runs it (a fresh process: start-up, load, plan, the run,
    teardown) on a clock where JoggAI's 60 s POST window lasts `window` seconds."""
    scale = WINDOW / window
    path = write_manifest(tmp, n)
    state = os.path.join(tmp, f"cli{n}.json")
    with sandbox_process(scale) as url:
        argv = [sys.executable, "-m", "jogg_flow", "apply", path, "--api-base", url, "--state", state,
                "--parallelism", "8", "--post-rate", f"{LIMIT}/{window:g}s", "-q",
                "--poll-interval", f"{15.0 / scale:g}", "--poll-max", f"{120.0 / scale:g}"]
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "JOGG_API_KEY": KEY})
        wall = time.perf_counter() - start
        get = sum(c for r, c in stats(url)["requests"].items() if r.startswith("GET ")) / n
    return {"wall": wall, "bound": lower_bound(n, scale), "get": get}


def baseline(n: int, scale: float) -> float:
    with sandbox_process(scale) as url:
        start = time.perf_counter()
        sequential.run(url, KEY, [f"https://shop.example/products/{i}" for i in range(n)], scale)
        return time.perf_counter() - start


def finished_state(tmp: str, n: int) -> tuple[str, str]:
    """A manifest of n products and a state in which every video has succeeded."""
    path = write_manifest(tmp, n)
    state_path = os.path.join(tmp, f"done{n}.json")
    state = State.load(state_path)
    for v in load_manifest(path, environ={}).videos:
        state.put(v.key, {
            "key": v.key, "tags": list(v.tags), "inputs": v.inputs(), "product_id": 1,
            "project_id": "0" * 32, "steps": {"create": "done", "update": "done", "render": "done"},
            "status": "succeeded", "history": [],
            "outputs": {"video_url": f"https://res.example/{v.key}.mp4",
                        "cover_url": f"https://res.example/{v.key}.png", "duration": 30.0}})
    state.save()
    state.close()
    return path, state_path


def timed_cli(*args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one CLI run in a fresh process."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
            "w = time.perf_counter() - t; "
            "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "jogg_flow", *args],
                         capture_output=True, text=True, check=True, env={**os.environ, "JOGG_API_KEY": KEY})
    wall, rss, rc = out.stdout.split()
    assert rc == "0", (args, rc)
    return float(wall), int(rss) / 1024


def noop(tmp: str, n: int, runs: int = 5) -> dict[str, Any]:
    """No-op apply, plan and validate on n finished videos beside libyaml's load of the same
    file: paired medians of interleaved fresh processes (bench/paired.py)."""
    from bench.paired import child_env, paired

    path, state = finished_state(tmp, n)
    cli = [sys.executable, "-m", "jogg_flow"]
    return paired({"yaml": [sys.executable, "-c", "import sys, yaml; yaml.load(open(sys.argv[1]).read(), "
                            "Loader=yaml.CSafeLoader)", path],
                   "apply": [*cli, "apply", path, "--state", state],
                   "plan": [*cli, "plan", path, "--state", state],
                   "validate": [*cli, "validate", path]}, "yaml", runs, child_env(tmp, JOGG_API_KEY=KEY))


def overhead(tmp: str, n: int, runs: int = 5) -> dict[str, float]:
    """Per-step cost of the engine against a zero-latency sandbox with instant renders,
    beside the same calls made by a bare loop over the client: `runs` rounds, the two
    interleaved (order swapped every round), medians and the median per-round ratio."""
    from jogg_flow.api import PostBudget
    from jogg_flow.api.open import OpenClient as Client

    path = write_manifest(tmp, n)
    steps = 4 * n
    rounds: list[tuple[float, float]] = []
    with Sandbox(Config(render_seconds=0.0, post_limit=10**9)) as sb:
        settings = runner.ApplySettings(parallelism=1,
                                        post_rate=(10**9, 1.0), poll_interval=0.0001, poll_max=0.0001)

        def engine(i: int) -> float:
            state = os.path.join(tmp, f"o{n}-{i}.json")
            start = time.perf_counter()
            runner.apply(Scope(path, state=state, api_base=sb.url, environ={"JOGG_API_KEY": KEY}), settings)
            return time.perf_counter() - start

        def bare() -> float:
            client = Client(sb.url, KEY, budget=PostBudget(10**9, 1.0))
            start = time.perf_counter()
            for i in range(n):
                pid, prj = client.create_product(f"https://shop.example/products/{i}")
                assert prj is not None  # the open flow answers the project with the product
                client.update_product(pid, {"title": "t"})
                client.render(prj, {"aspect_ratio": 0})
                client.project_info(prj)
            return time.perf_counter() - start

        for i in range(runs):
            if i % 2:
                b = bare()
                e = engine(i)
            else:
                e = engine(i)
                b = bare()
            rounds.append((e, b))
    ratios = sorted(e / b for e, b in rounds)
    return {"engine_ms": 1000 * statistics.median(e for e, _ in rounds) / steps,
            "bare_ms": 1000 * statistics.median(b for _, b in rounds) / steps,
            "ratio": statistics.median(ratios), "spread": ratios[-1] - ratios[0]}


def bytes_per_step(tmp: str, n: int) -> float:
    """Bytes the state gains per recorded step once n videos are in it."""
    _, state_path = finished_state(tmp, n)
    state = State.load(state_path)
    before = os.path.getsize(state_path + ".journal") if os.path.exists(state_path + ".journal") else 0
    record = state.get("p000000")
    assert record is not None
    for i in range(10):
        record["steps"]["render"] = "inflight" if i % 2 else "done"
        state.put("p000000", record)
    after = os.path.getsize(state_path + ".journal")
    state.close()
    return (after - before) / 10


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--baseline", type=int, nargs="*", default=[10, 100])
    ap.add_argument("--scale", type=float, default=600.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cli", type=int, nargs="*", default=[30],
                    help="sizes run as the CLI in a fresh process, on the --cli-window clock")
    ap.add_argument("--cli-window", type=float, default=2.0, help="real seconds of a 60 s POST window")
    ap.add_argument("--makespan-only", action="store_true", help="skip the no-op and per-step figures")
    ap.add_argument("--api", choices=["open", "v1", "v2", "all"], default="open",
                    help="API generation(s) for the makespan rows; the baseline speaks open")
    args = ap.parse_args()
    versions = ("open", "v1", "v2") if args.api == "all" else (args.api,)
    report: dict[str, object] = {"scale": args.scale}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"makespan at 1 API minute = {60 / args.scale:.3f} s, render {RENDER / 60:.0f} min, "
              f"{LIMIT} POST / {WINDOW:.0f} s")
        print(f"{'api':>4} {'N':>5} {'ours':>8} {'bound':>8} {'ours/bound':>10} {'429s':>5} {'POST/v':>6} "
              f"{'PUT/v':>5} {'GET/v':>5} {'CPU/v':>7} {'2nd=0':>5} {'baseline':>9} {'speed-up':>8}")
        for version, n in [(v, n) for v in versions for n in args.sizes]:
            r = ours(tmp, n, args.scale, version)
            base = baseline(n, args.scale) if n in args.baseline and version == "open" else None
            speed = f"{base / r['wall']:.1f}x" if base else "-"
            print(f"{version:>4} {n:>5} {r['wall']:>7.2f}s {r['bound']:>7.2f}s "
                  f"{r['wall'] / r['bound']:>10.3f} "
                  f"{r['r429']:>5} {r['post']:>6.2f} {r['put']:>5.2f} {r['get']:>5.2f} {r['cpu_ms']:>5.1f}ms "
                  f"{str(r['second_apply_zero']):>5} {(f'{base:.2f}s' if base else '-'):>9} {speed:>8}")
            print(f"{'':>10} over the bound: {r['start']:.2f}s to the first POST, last render sent "
                  f"{r['posts_late']:.2f}s after its earliest, read done {r['tail']:.2f}s after its render")
            report[f"makespan_{n}" + ("" if version == "open" else f"_{version}")] = {**r, "baseline": base}
        for n in args.cli:
            r = cli_makespan(tmp, n, args.cli_window)
            print(f" cli {n:>5} {r['wall']:>7.2f}s {r['bound']:>7.2f}s {r['wall'] / r['bound']:>10.3f}   "
                  f"(a fresh `jogg-flow apply`, {args.cli_window:g} s POST windows, GET/v {r['get']:.2f})")
            report[f"cli_makespan_{n}"] = r
        if args.makespan_only:
            return
        print()
        for n in (10_000,):
            figures = noop(tmp, n)
            for cmd, f in figures.items():
                print(f"no-op {cmd:<8} on {n} finished videos: CPU {f.cpu:.2f} s, {f.cell()} the libyaml "
                      f"load, peak {f.rss:.0f} MB")
            print("(paired medians of 5 interleaved fresh processes; noise: the load against itself)")
            report["noop"] = {cmd: vars(f) for cmd, f in figures.items()}
        o = overhead(tmp, 200)
        print(f"\nper step, zero-latency sandbox: engine {o['engine_ms']:.2f} ms, bare client "
              f"{o['bare_ms']:.2f} ms, engine overhead {o['engine_ms'] - o['bare_ms']:.2f} ms "
              f"(engine/bare {o['ratio']:.2f}x, spread {o['spread']:.2f}; medians of 5 interleaved rounds)")
        b100, b10k = bytes_per_step(tmp, 100), bytes_per_step(tmp, 10_000)
        print(f"state bytes per step: {b100:.0f} at N=100, {b10k:.0f} at N=10,000 "
              f"(ratio {b10k / b100:.2f})")
        report.update(overhead=o, bytes_per_step={"100": b100, "10000": b10k})
    if args.json:
        print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    threading.stack_size(512 * 1024)
    main()
