"""Catalogue scale, as ratios taken in one run: the CLI against libyaml's own load of the same file.

    python bench/scale.py                 # 1,000 / 10,000 / 50,000 products, 5 rounds (about 10 min)
    python bench/scale.py --sizes 10000 --runs 5
    python bench/scale.py --sizes 10000 --against /tmp/old   # git archive REV jogg_flow schemas

For each size: `yaml.load(text, CSafeLoader)` of the file in a fresh interpreter (start-up
included, as the CLI's is), `validate`, `plan` and a no-op `apply` (every video already
finished in the state), each a fresh process, as paired medians of interleaved rounds
(`bench/paired.py`): CPU seconds of the load, every command's median ratio to the load of
the same round with its spread (max - min), and peak RSS. The `noise` column is a second
load against the first. Then the growth exponent of the median CPU (log t50k/t10k / log 5,
and a least-squares fit over all sizes), and the fixed cost: `jogg-flow --version` and
`validate` of a one-product manifest.

Children run with bytecode caching on (in a throwaway PYTHONPYCACHEPREFIX), as an installed
package runs: pip compiles on install. A shell with PYTHONDONTWRITEBYTECODE=1 would otherwise
recompile every module of jogg_flow on every start.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.apply_bench import KEY, finished_state  # noqa: E402
from bench.paired import Figure, child_env, paired  # noqa: E402

YAML = "import sys, yaml; yaml.load(open(sys.argv[1], encoding='utf-8').read(), Loader=yaml.CSafeLoader)"
TARGETS = {"validate": 1.3, "plan": 1.3, "apply": 1.3}  # issue #26, target 2 (CPU, x the load)
COMMANDS = ("validate", "plan", "apply")


def commands(path: str, state: str, against: str | None = None) -> dict[str, list[str]]:
    """The commands of a row; with `against` (a directory holding another tree's `jogg_flow`
    package, e.g. from `git archive`), that tree's plan and apply run in the same rounds."""
    cli = [sys.executable, "-m", "jogg_flow"]
    out = {"yaml": [sys.executable, "-c", YAML, path],
           "validate": [*cli, "validate", path],
           "plan": [*cli, "plan", path, "--state", state],
           "apply": [*cli, "apply", path, "--state", state]}
    if against:
        other = [sys.executable, "-c", "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
                 "runpy.run_module('jogg_flow', run_name='__main__')", against]
        out["other plan"] = [*other, "plan", path, "--state", state]
        out["other apply"] = [*other, "apply", path, "--state", state]
    return out


def exponent(sizes: list[int], times: list[float]) -> float:
    xs, ys = [math.log(s) for s in sizes], [math.log(t) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def report(sizes: list[int], rows: dict[int, dict[str, Figure]], runs: int) -> None:
    heads = ("yaml.load", "validate", "plan", "no-op apply", "noise")
    print(f"{'products':>9} " + " ".join(f"{c:>20}" for c in heads))
    for n in sizes:
        r = rows[n]
        cells = [f"{r['yaml'].cpu:6.2f}s {r['yaml'].rss:4.0f}MB"]
        cells += [f"{r[c].cell()} {r[c].rss:4.0f}MB" for c in (*COMMANDS, "noise")]
        print(f"{n:>9} " + " ".join(f"{c:>20}" for c in cells))
        for c in ("other plan", "other apply"):
            if c in r:
                print(f"{'':>9} {c} (--against): {r[c].cell()} {r[c].rss:4.0f}MB")
    print(f"(yaml.load: median CPU and peak RSS; the others: median of the per-round CPU ratios to "
          f"yaml.load, (max - min), median peak RSS; {runs} interleaved rounds of fresh processes)")
    if 10000 in rows:
        for cmd, target in TARGETS.items():
            ratio = rows[10000][cmd].ratio
            print(f"10k {cmd:<8} {ratio:.2f}x the libyaml load (target <= {target}x): "
                  f"{'met' if ratio <= target else 'NOT met'}")
    if 10000 in rows and 50000 in rows:
        for cmd in ("yaml", *COMMANDS):
            e = math.log(rows[50000][cmd].cpu / rows[10000][cmd].cpu) / math.log(5)
            fit = exponent(sizes, [rows[n][cmd].cpu for n in sizes])
            note = "" if cmd == "yaml" else f" (target <= 1.02: {'met' if e <= 1.02 else 'NOT met'})"
            print(f"growth {cmd:<8} 10k->50k N^{e:.3f}, fitted over {sizes} N^{fit:.3f}{note}")
    if 50000 in rows:
        load = rows[50000]["yaml"].rss
        for cmd in COMMANDS:
            f = rows[50000][cmd]
            verdict = "met" if f.rss <= load else "NOT met"
            print(f"peak RSS at 50k {cmd:<8} {f.rss:.0f} MB, {f.rss_ratio:.2f}x the load's "
                  f"{load:.0f} MB (target <= the load: {verdict})")


def fixed_cost(tmp: str, runs: int, env: dict[str, str]) -> None:
    one = os.path.join(tmp, "one.yaml")
    with open(one, "w") as fh:
        fh.write("version: 1\nproducts:\n  - key: p1\n    url: https://shop.example.com/products/1\n")
    cli = [sys.executable, "-m", "jogg_flow"]
    got = paired({"python": [sys.executable, "-c", "pass"], "--version": [*cli, "--version"],
                  "validate 1": [*cli, "validate", one]}, "python", runs, env, noise=False)
    for name in ("--version", "validate 1"):
        wall = got[name].wall
        verdict = "met" if wall <= 0.15 else "NOT met"
        print(f"jogg-flow {name:<10} {wall:.3f} s wall (target <= 0.15 s: {verdict}; "
              f"a bare interpreter start {got['python'].wall:.3f} s; medians of {runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-fixed", action="store_true", help="skip --version and the one-product validate")
    parser.add_argument("--against", help="a directory holding another tree's jogg_flow (before/after)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = child_env(tmp, JOGG_API_KEY=KEY)
        if not args.no_fixed:
            fixed_cost(tmp, max(args.runs, 5), env)
        rows = {}
        for n in args.sizes:
            path, state = finished_state(tmp, n)
            rows[n] = paired(commands(path, state, args.against), "yaml", args.runs, env)
            print(f"  ({n} products measured)", file=sys.stderr)
        report(args.sizes, rows, args.runs)


if __name__ == "__main__":
    main()
