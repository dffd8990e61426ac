"""The API client's CPU per call: this tree's transport beside another tree's.

    python bench/client_cpu.py --against /tmp/old      # git archive REV jogg_flow schemas
    python bench/client_cpu.py --videos 300 --runs 9

A fresh process per tree makes `--videos` product flows with the bare client (create,
update, render, status: 4 calls each, 2 of them POSTs) against the sandbox running in a
process of its own (instant renders, no POST limit), and reports its own CPU time (user +
system, the watchdog thread included) per call, after a warm-up of 20 flows. The trees run
interleaved, the order swapped every round; figures are medians, the ratio the median of
the per-round ratios (this tree / the other) with its spread (max - min).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = """
import sys, time
from jogg_flow.api import PostBudget
from jogg_flow.api.open import OpenClient

client = OpenClient(sys.argv[1], "bench-key", budget=PostBudget(10**9, 1.0))

def flow(i):
    pid, prj = client.create_product(f"https://shop.example/products/{i}")
    client.update_product(pid, {"title": "t"})
    client.render(prj, {"aspect_ratio": 0})
    client.project_info(prj)

for i in range(20):
    flow(i)
n = int(sys.argv[2])
start = time.process_time()
for i in range(n):
    flow(i)
print((time.process_time() - start) / (4 * n))
"""


def per_call(tree: str, url: str, videos: int) -> float:
    """Seconds of CPU per call of `tree`'s client, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", CHILD, url, str(videos)], capture_output=True,
                         text=True, env=env, cwd=tree, check=True)
    return float(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", required=True, help="a directory holding another tree's jogg_flow")
    ap.add_argument("--videos", type=int, default=200)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    sandbox = subprocess.Popen([sys.executable, "-m", "jogg_flow", "sandbox", "--port", "0",
                                "--render-seconds", "0", "--post-limit", str(10**9)],
                               stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": ROOT})
    try:
        assert sandbox.stderr is not None
        match = re.search(r"(http://127\.0\.0\.1:\d+)", sandbox.stderr.readline())
        assert match, "the sandbox did not start"
        url = match.group(1)
        trees = {"this": ROOT, "against": os.path.abspath(args.against)}
        rounds: list[dict[str, float]] = []
        for i in range(args.runs):
            order = ["this", "against"] if i % 2 == 0 else ["against", "this"]
            rounds.append({name: per_call(trees[name], url, args.videos) for name in order})
    finally:
        sandbox.send_signal(signal.SIGINT)
        sandbox.communicate(timeout=10)
    ratios = sorted(r["this"] / r["against"] for r in rounds)
    for name in ("this", "against"):
        print(f"{name:>8}: {1000 * statistics.median(r[name] for r in rounds):.3f} ms CPU per call "
              f"({trees[name]})")
    print(f"this / against: {statistics.median(ratios):.2f}x (spread {ratios[-1] - ratios[0]:.2f}; "
          f"medians of {args.runs} interleaved rounds, {args.videos} flows each)")


if __name__ == "__main__":
    main()
