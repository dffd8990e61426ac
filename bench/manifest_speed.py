"""validate and plan on generated manifests: wall time per size, side by side in one run.

    python bench/manifest_speed.py            # 1,000 and 10,000 products
    python bench/manifest_speed.py 100 1000   # other sizes

Each figure is the best of three runs of the command as a user runs it (a fresh process,
so start-up counts), and the in-process time of the core function beside it; `yaml` is
libyaml's own `yaml.load(..., CSafeLoader)` of the same file in a fresh process, the floor
the CLI's times are divided by (`bench/scale.py` adds no-op apply, 50k, peak RSS).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.gen_manifest import manifest  # noqa: E402
from jogg_flow.app import offline  # noqa: E402
from jogg_flow.app.scope import Scope  # noqa: E402


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


def libyaml(path: str) -> None:
    subprocess.run([sys.executable, "-c", "import sys, yaml; yaml.load(open(sys.argv[1]).read(), "
                    "Loader=yaml.CSafeLoader)", path], check=True)


def measure(n: int, tmp: str) -> tuple[int, int, float, float, float, float, float]:
    path = os.path.join(tmp, f"bench-{n}.yaml")
    with open(path, "w") as fh:
        fh.write(manifest(n))
    state = os.path.join(tmp, f"state-{n}.json")
    return (n, os.path.getsize(path), best(lambda: libyaml(path)),
            best(lambda: cli("validate", path)),
            best(lambda: cli("plan", path, "--state", state)),
            best(lambda: offline.validate([path])),
            best(lambda: offline.plan(Scope(path, state=state))))


def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(n, tmp) for n in sizes]
    print(f"{'products':>9} {'bytes':>10} {'yaml':>7} {'validate':>15} {'plan':>15} "
          f"{'validate*':>10} {'plan*':>7}")
    for n, size, y, v, p, vi, pi in rows:
        print(f"{n:>9} {size:>10} {y:>6.2f}s {v:>6.2f}s ({v / y:4.2f}x) {p:>6.2f}s ({p / y:4.2f}x) "
              f"{vi:>9.2f}s {pi:>6.2f}s")
    print("* in-process, without interpreter start-up; (x) the CLI's time over libyaml's load")
    print("the bar: 10,000 products within 1.3x libyaml's load of the same file")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])
