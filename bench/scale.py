"""Catalogue scale, as ratios taken in one run: the CLI against libyaml's own load of the same file.

    python bench/scale.py                 # 1,000 / 10,000 / 50,000 products, best of 5 (about 10 min)
    python bench/scale.py --sizes 1000 10000 --runs 3

For each size: `yaml.load(text, CSafeLoader)` of the file in a fresh interpreter (start-up
included, as the CLI's is), `validate`, `plan` and a no-op `apply` (every video already
finished in the state), each a fresh process, the commands interleaved run by run and the
best wall time kept; peak RSS of each process from wait4. Then the growth exponent
(log t50k/t10k / log 5, and a least-squares fit over all sizes), and the fixed cost:
`jogg-flow --version` and `validate` of a one-product manifest.

Children run with bytecode caching on (in a throwaway PYTHONPYCACHEPREFIX), as an installed
package runs: pip compiles on install. A shell with PYTHONDONTWRITEBYTECODE=1 would otherwise
recompile every module of jogg_flow on every start.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.apply_bench import KEY, finished_state  # noqa: E402

YAML = "import sys, yaml; yaml.load(open(sys.argv[1], encoding='utf-8').read(), Loader=yaml.CSafeLoader)"
TARGETS = {"validate": 1.3, "plan": 1.3, "apply": 1.5}


# Started from a small interpreter: a child forked from this one (which holds a state of
# 50,000 videos) would count this process's pages in its own peak RSS.
WRAPPER = ("import os, subprocess, sys, time; t = time.perf_counter(); "
           "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
           "_, status, usage = os.wait4(p.pid, 0); w = time.perf_counter() - t; "
           "print(w, usage.ru_maxrss, os.waitstatus_to_exitcode(status))")


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *argv], capture_output=True, text=True,
                         env=env, check=True)
    wall, rss, code = out.stdout.split()
    assert code == "0", (argv, code)
    return float(wall), int(rss) / 1024


def commands(path: str, state: str) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "jogg_flow"]
    return {"yaml": [sys.executable, "-c", YAML, path],
            "validate": [*cli, "validate", path],
            "plan": [*cli, "plan", path, "--state", state],
            "apply": [*cli, "apply", path, "--state", state]}


def best(cmds: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Best wall (and its peak RSS) per command, the commands interleaved within each round."""
    out: dict[str, tuple[float, float]] = {}
    for argv in cmds.values():  # a warm-up round: bytecode written, files in the page cache
        run(argv, env)
    for _ in range(runs):
        for name, argv in cmds.items():
            wall, rss = run(argv, env)
            if name not in out or wall < out[name][0]:
                out[name] = (wall, max(rss, out.get(name, (0, 0))[1]))
    return out


def exponent(sizes: list[int], times: list[float]) -> float:
    xs, ys = [math.log(s) for s in sizes], [math.log(t) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def report(sizes: list[int], rows: dict[int, dict[str, tuple[float, float]]]) -> None:
    heads = ("yaml.load", "validate", "plan", "no-op apply")
    print(f"{'products':>9} " + " ".join(f"{c:>16}" for c in heads))
    for n in sizes:
        r = rows[n]
        cells = [f"{r['yaml'][0]:6.2f}s {r['yaml'][1]:4.0f}MB"]
        cells += [f"{r[c][0] / r['yaml'][0]:5.2f}x {r[c][1]:4.0f}MB" for c in ("validate", "plan", "apply")]
        print(f"{n:>9} " + " ".join(f"{c:>16}" for c in cells))
    print("(yaml.load: wall and peak RSS; the others: wall as a multiple of yaml.load's in the same run)")
    if 10000 in rows:
        for cmd, target in TARGETS.items():
            ratio = rows[10000][cmd][0] / rows[10000]["yaml"][0]
            print(f"10k {cmd:<8} {ratio:.2f}x the libyaml load (target <= {target}x): "
                  f"{'met' if ratio <= target else 'NOT met'}")
    if 10000 in rows and 50000 in rows:
        for cmd in ("yaml", "validate", "plan", "apply"):
            e = math.log(rows[50000][cmd][0] / rows[10000][cmd][0]) / math.log(5)
            fit = exponent(sizes, [rows[n][cmd][0] for n in sizes])
            note = "" if cmd == "yaml" else f" (target <= 1.02: {'met' if e <= 1.02 else 'NOT met'})"
            print(f"growth {cmd:<8} 10k->50k N^{e:.3f}, fitted over {sizes} N^{fit:.3f}{note}")
        for cmd in ("validate", "plan", "apply"):
            rss = rows[50000][cmd][1]
            verdict = "met" if rss <= 300 else "NOT met"
            print(f"peak RSS at 50k {cmd:<8} {rss:.0f} MB (target <= 300 MB: {verdict}; "
                  f"yaml.load alone {rows[50000]['yaml'][1]:.0f} MB)")


def fixed_cost(tmp: str, runs: int, env: dict[str, str]) -> None:
    one = os.path.join(tmp, "one.yaml")
    with open(one, "w") as fh:
        fh.write("version: 1\nproducts:\n  - key: p1\n    url: https://shop.example.com/products/1\n")
    cli = [sys.executable, "-m", "jogg_flow"]
    got = best({"python": [sys.executable, "-c", "pass"], "--version": [*cli, "--version"],
                "validate 1": [*cli, "validate", one]}, runs, env)
    for name in ("--version", "validate 1"):
        wall = got[name][0]
        print(f"jogg-flow {name:<10} {wall:.3f} s (target <= 0.15 s: {'met' if wall <= 0.15 else 'NOT met'}; "
              f"a bare interpreter start {got['python'][0]:.3f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=os.path.join(tmp, "pycache"), JOGG_API_KEY=KEY)
        fixed_cost(tmp, max(args.runs, 5), env)
        rows = {}
        for n in args.sizes:
            path, state = finished_state(tmp, n)
            rows[n] = best(commands(path, state), args.runs, env)
            print(f"  ({n} products measured)", file=sys.stderr)
        report(args.sizes, rows)


if __name__ == "__main__":
    main()
