"""validate and plan on generated manifests: wall time per size, side by side in one run.

    python bench/manifest_speed.py            # 1,000 and 10,000 products
    python bench/manifest_speed.py 100 1000   # other sizes

Each figure is the best of three runs of the command as a user runs it (a fresh process,
so start-up counts), and the in-process time of the core function beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.gen_manifest import manifest  # noqa: E402
from jogg_flow import core  # noqa: E402


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "jogg_flow", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(n: int, tmp: str) -> tuple[int, int, float, float, float, float]:
    path = os.path.join(tmp, f"bench-{n}.yaml")
    with open(path, "w") as fh:
        fh.write(manifest(n))
    state = os.path.join(tmp, f"state-{n}.json")
    return (n, os.path.getsize(path),
            best(lambda: cli("validate", path)),
            best(lambda: cli("plan", path, "--state", state)),
            best(lambda: core.validate([path])),
            best(lambda: core.plan(path, state=state)))


def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(n, tmp) for n in sizes]
    print(f"{'products':>9} {'bytes':>10} {'validate':>9} {'plan':>7} {'validate*':>10} {'plan*':>7}")
    for n, size, v, p, vi, pi in rows:
        print(f"{n:>9} {size:>10} {v:>8.2f}s {p:>6.2f}s {vi:>9.2f}s {pi:>6.2f}s")
    print("* in-process, without interpreter start-up")
    print("the bar: 10,000 products under 3 s; 1,000 in a tenth of that (0.3 s)")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])
