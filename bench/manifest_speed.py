"""validate and plan on generated manifests: wall time per size, side by side in one run.

    python bench/manifest_speed.py            # 1,000 and 10,000 products
    python bench/manifest_speed.py 100 1000   # other sizes

Each figure is a paired median of interleaved fresh processes, as a user runs the command
(start-up counts; `bench/paired.py`): CPU seconds, and the median of the per-round ratios
to libyaml's own `yaml.load(..., CSafeLoader)` of the same file with their spread; `noise`
is the load against itself. Beside them the in-process wall time of the core function
(median of 5). `bench/scale.py` adds no-op apply, 50k and peak RSS.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.gen_manifest import manifest  # noqa: E402
from bench.paired import Figure, child_env, paired  # noqa: E402
from jogg_flow.app import check, offline  # noqa: E402
from jogg_flow.app.scope import Scope  # noqa: E402


def median(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall seconds of `fn` in this process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(n: int, tmp: str, runs: int) -> tuple[int, int, dict[str, Figure], float, float]:
    path = os.path.join(tmp, f"bench-{n}.yaml")
    with open(path, "w") as fh:
        fh.write(manifest(n))
    state = os.path.join(tmp, f"state-{n}.json")
    cli = [sys.executable, "-m", "jogg_flow"]
    got = paired({"yaml": [sys.executable, "-c", "import sys, yaml; yaml.load(open(sys.argv[1]).read(), "
                           "Loader=yaml.CSafeLoader)", path],
                  "validate": [*cli, "validate", path], "plan": [*cli, "plan", path, "--state", state]},
                 "yaml", runs, child_env(tmp))
    return (n, os.path.getsize(path), got, median(lambda: check.validate([path])),
            median(lambda: offline.plan(Scope(path, state=state))))


def main(sizes: list[int], runs: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(n, tmp, runs) for n in sizes]
    print(f"{'products':>9} {'bytes':>10} {'yaml':>7} {'validate':>21} {'plan':>21} {'noise':>13} "
          f"{'validate*':>10} {'plan*':>7}")
    for n, size, got, vi, pi in rows:
        y, v, p = got["yaml"], got["validate"], got["plan"]
        print(f"{n:>9} {size:>10} {y.cpu:>6.2f}s {v.cpu:>6.2f}s {v.cell()} {p.cpu:>6.2f}s {p.cell()} "
              f"{got['noise'].cell()} {vi:>9.2f}s {pi:>6.2f}s")
    print(f"CPU seconds of fresh processes, (x) the median of the per-round ratios to libyaml's load "
          f"and their spread, {runs} interleaved rounds; * in-process wall, median of 5")
    print("the bar: 10,000 products within 1.3x libyaml's load of the same file")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])
