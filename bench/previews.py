"""Previews against the sandbox: what a catalogue spends, and a crash campaign.

    python bench/previews.py cost --products 10 --styles 3
    python bench/previews.py crash --kills 12 --seeds 0 1 2

`cost` runs the review gate a shop would use (preview every style of every product, pick
one per product, render it) and the alternative without previews (render every style in
full), each against a fresh sandbox, and prints the POSTs and credits of both.

`crash` SIGKILLs real `jogg-flow preview` and `jogg-flow apply` processes at random
instants, then lets each finish: no style of a video may be previewed twice, and no video
rendered twice (tests/test_previews.py runs a small one; `pytest -m slow` a larger one).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jogg_flow.sandbox import Config, Sandbox  # noqa: E402
from jogg_flow.sandbox.v2 import VISUAL_STYLES  # noqa: E402
from jogg_flow.state import State  # noqa: E402

KEY = "jf-preview-bench-key-77d1c0"
FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2")
STYLES = [str(s["name"]) for s in VISUAL_STYLES]


def write_manifest(directory: str, n: int, styles: list[str], chosen: dict[int, str] | None = None,
                   variants: bool = False) -> str:
    """n products previewing `styles`; `chosen[i]`: product i's visual_style. `variants`:
    one variant per style instead (rendering every style in full, no previews)."""
    path = os.path.join(directory, "previews.yaml")
    lines = ["version: 1", "name: previews", "api: {version: v2}",
             "defaults: {render: {avatar_id: 37, video_length: 15, preview_styles: "
             f"{json.dumps(styles)}}}}}",
             "products:"]
    for i in range(n):
        lines += [f"  - key: p{i}", f"    url: https://shop.example/previews/{i}"]
        if variants:
            lines.append("    variants:")
            lines += [f"      - {{name: s{j}, render: {{visual_style: {json.dumps(s)}}}}}"
                      for j, s in enumerate(styles)]
        elif chosen and i in chosen:
            lines.append(f"    render: {{visual_style: {json.dumps(chosen[i])}}}")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def _cli(command: str, url: str, manifest: str, state: str,
         popen: Callable[..., subprocess.Popen[str]] = subprocess.Popen) -> subprocess.Popen[str]:
    return popen([sys.executable, "-m", "jogg_flow", command, manifest, "--api-base", url, "--state", state,
                  *FAST, "--parallelism", "3", "--output", "json", "--yes"],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                 env={**os.environ, "JOGG_API_KEY": KEY})


def _posts(stats: dict[str, Any]) -> int:
    """POSTs carried out (a 429 is refused before anything is done)."""
    sent = sum(n for route, n in stats["requests"].items() if route.startswith("POST "))
    return int(sent - stats["rate_limited"])


def cost(directory: str, products: int = 10, styles: int = 3) -> dict[str, Any]:
    """POSTs and credits: previews of every style then one render per product, against a
    full render of every style."""
    names = STYLES[:styles]
    rng = random.Random(products * 31 + styles)
    out: dict[str, Any] = {"products": products, "styles": styles}
    for way in ("previews", "full"):
        folder = os.path.join(directory, way)
        os.makedirs(folder, exist_ok=True)
        state = os.path.join(folder, "state.json")
        with Sandbox(Config(time_scale=60.0, render_seconds=30.0, credits=10_000)) as sb:
            if way == "previews":
                manifest = write_manifest(folder, products, names)
                _run(_cli("preview", sb.url, manifest, state))
                picks = {i: rng.choice(names) for i in range(products)}
                manifest = write_manifest(folder, products, names, picks)
            else:
                manifest = write_manifest(folder, products, names, variants=True)
            _run(_cli("apply", sb.url, manifest, state))
            stats = sb.stats()
            out[way] = {"posts": _posts(stats), "credits": 10_000 - float(stats["credits_left"]),
                        "previews": stats["previews_made"], "renders": stats["renders_accepted"],
                        "renders_from_previews": stats["renders_from_previews"]}
    return out


def _run(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {err[-2000:]}")


def preview_duplicates(stats: dict[str, Any]) -> int:
    """Styles previewed more than once for one video (its key leads each request's name)."""
    seen: Counter[tuple[str, str]] = Counter()
    for title, styles in stats["previews_by_title"].items():
        key = title.split(" [jf-", 1)[0]
        seen.update((key, s) for s in styles)
    return sum(n - 1 for n in seen.values())


def crash(directory: str, kills: int, seed: int, n: int = 6, styles: int = 3,
          popen: Callable[..., subprocess.Popen[str]] = subprocess.Popen) -> dict[str, Any]:
    """Kill `preview`, then `apply` (each video's visual_style chosen), at random instants
    `kills` times each; let each finish. Returns the figures; raises on a broken promise."""
    rng = random.Random(seed)
    names = STYLES[:styles]
    state = os.path.join(directory, f"previews{seed}.json")
    # Every answer takes a quarter second: a kill often lands while a POST is under way.
    config = Config(time_scale=60.0, render_seconds=60.0, latency=0.25)
    killed: Counter[str] = Counter()
    inflight: Counter[str] = Counter()  # kills that left a preview or render POST unrecorded
    with Sandbox(config) as sb:
        for command in ("preview", "apply"):
            chosen = {i: names[i % len(names)] for i in range(n)} if command == "apply" else None
            manifest = write_manifest(directory, n, names, chosen)
            for _ in range(kills):
                proc = _cli(command, sb.url, manifest, state, popen)
                time.sleep(rng.uniform(1.0, 3.5))  # the CLI starts in about a second
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                killed[command] += 1
                time.sleep(0.3)  # let a request the victim sent reach the sandbox
                records = State.load(state).videos if os.path.exists(state) else {}  # parses
                inflight["preview"] += any((r.get("previews") or {}).get("inflight")
                                           for r in records.values())
                inflight["render"] += any(r["steps"].get("render") == "inflight" for r in records.values())
            for _ in range(3):  # a lost answer may need one more run to be read back
                final = _cli(command, sb.url, manifest, state, popen)
                out, err = final.communicate(timeout=300)
                if final.returncode == 0:
                    break
                err = out[-3000:] + err
            else:
                raise AssertionError(f"{command} did not finish: {err[-2000:]}")
        stats = sb.stats()
    records = State.load(state).videos
    renders = stats["renders_per_project"]
    return {"seed": seed, "videos": n, "styles": styles, "kills": dict(killed),
            "kills_with_a_post_in_flight": dict(inflight),
            "previews": stats["previews_made"], "duplicate_previews": preview_duplicates(stats),
            "renders": stats["renders_accepted"], "renders_from_previews": stats["renders_from_previews"],
            "duplicate_renders": sum(v - 1 for v in renders.values()),
            "succeeded": sum(r.get("status") == "succeeded" for r in records.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("cost")
    c.add_argument("--products", type=int, default=10)
    c.add_argument("--styles", type=int, default=3)
    k = sub.add_parser("crash")
    k.add_argument("--kills", type=int, default=12)
    k.add_argument("--seeds", type=int, nargs="+", default=[0])
    k.add_argument("--videos", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.what == "cost":
            print(json.dumps(cost(tmp, args.products, args.styles), indent=2))
        else:
            for seed in args.seeds:
                folder = os.path.join(tmp, str(seed))
                os.makedirs(folder)
                print(json.dumps(crash(folder, args.kills, seed, args.videos)))


if __name__ == "__main__":
    main()
