"""Crash and fault campaigns: real apply runs against the sandbox, killed or faulted, then
completed; every run checks the promises and returns its figures.

    python bench/campaigns.py crash --kills 100 --seeds 0 1 2 3
    python bench/campaigns.py faults --seeds 0 1 2 3 4 --videos 20

The test suite runs small versions of both (tests/test_crash.py, tests/test_faults.py);
`pytest -m slow` runs larger ones.
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
from typing import Any

from click.testing import CliRunner

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jogg_flow.cli import cli  # noqa: E402
from jogg_flow.sandbox import Config, Fault, Sandbox  # noqa: E402
from jogg_flow.state import State  # noqa: E402

KEY = "jf-campaign-key-0c9d2e7f41"
FAULT_MIX = {"http_500": 0.08, "rate_429": 0.08, "reset_before": 0.04, "drop_after_commit": 0.06,
             "malformed": 0.04, "html_502": 0.04, "slow": 0.03}
FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2")


def write_manifest(directory: str, n: int, version: str = "open") -> str:
    path = os.path.join(directory, f"campaign-{version}.yaml")
    with open(path, "w") as fh:
        fh.write(f"version: 1\napi: {{version: {version}}}\n"
                 "defaults: {render: {avatar_id: 37}}\nproducts:\n" + "".join(
            f"  - key: p{i}\n    url: https://shop.example/p/{i}\n    details: {{title: P{i}}}\n"
            for i in range(n)))
    return path


def check_done(state: str, stats: dict[str, Any], n: int) -> None:
    """Every video succeeded, and no project was rendered twice."""
    records = State.load(state).videos
    assert len(records) == n and all(r["status"] == "succeeded" for r in records.values()), records
    renders = stats["renders_per_product"]
    assert set(renders.values()) == {1}, renders
    assert all(renders[str(r["product_id"])] == 1 for r in records.values())
    with open(state) as fh:
        assert KEY not in fh.read()


def _start(url: str, manifest: str, state: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jogg_flow", "apply", manifest, "--api-base", url, "--state", state,
         *FAST, "--parallelism", "3", "--output", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "JOGG_API_KEY": KEY})


def crash(directory: str, kills: int, seed: int, n: int = 6, version: str = "open") -> dict[str, Any]:
    """SIGKILL a real apply at random instants `kills` times, then let one finish.

    After each kill the state must parse; the figures count the kills that landed inside a
    POST: a render JoggAI accepted whose answer the victim never recorded (the next run must
    adopt it, not pay again), or a create left in flight (a possible orphan product).
    """
    rng = random.Random(seed)
    state = os.path.join(directory, f"crash{seed}-{version}.json")
    manifest = write_manifest(directory, n, version)
    lost_render = open_create = 0
    with Sandbox(Config(time_scale=60.0, render_seconds=60.0, latency=0.02)) as sb:
        for _ in range(kills):
            proc = _start(sb.url, manifest, state)
            time.sleep(rng.uniform(0.4, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            time.sleep(0.05)  # let a request the victim had sent reach the sandbox
            records = State.load(state).videos  # parses after every kill
            accepted = sb.stats()["renders_per_product"]
            lost_render += any(r["steps"].get("render") == "inflight" and str(r.get("product_id")) in accepted
                               for r in records.values())
            open_create += any(r["steps"].get("create") == "inflight" for r in records.values())
        settled = 0
        for _ in range(3):  # a kill during a render POST leaves it to check, as a user would
            final = _start(sb.url, manifest, state)
            _, err = final.communicate(timeout=300)
            if final.returncode == 0:
                break
            settled += _settle_as_the_dashboard_shows(state, sb)
        assert final.returncode == 0, err
        stats = sb.stats()
    check_done(state, stats, n)
    return {"api": version, "seed": seed, "videos": n, "kills": kills,
            "kills_after_an_accepted_render_before_its_record": lost_render,
            "kills_with_a_create_in_flight": open_create, "needs_check_settled": settled,
            "products_created": stats["products_created"], "renders": stats["renders_accepted"],
            "duplicate_renders": sum(v - 1 for v in stats["renders_per_product"].values())}


def faults(directory: str, seed: int, n: int, fail_rate: float = 0.1,
           version: str = "open") -> dict[str, Any]:
    """Apply under a seeded mix of every fault until it exits 0 (at most 15 runs)."""
    config = Config(time_scale=60.0, render_seconds=20.0, slow_seconds=0.6, fail_rate=fail_rate,
                    seed=seed, faults=[Fault(k, "*", probability=p) for k, p in FAULT_MIX.items()])
    state = os.path.join(directory, f"faults{seed}-{version}.json")
    manifest = write_manifest(directory, n, version)
    codes = []
    with Sandbox(config) as sb:
        for _ in range(15):
            result = CliRunner().invoke(cli, [
                "apply", manifest, "--api-base", sb.url, "--state", state, *FAST,
                "--request-timeout", "0.3", "--output", "json"], env={"JOGG_API_KEY": KEY})
            codes.append(result.exit_code)
            assert result.exit_code in (0, 1), result.stderr
            assert "Traceback" not in result.stderr
            for line in result.stdout.splitlines():
                json.loads(line)
            State.load(state)
            if result.exit_code == 0:
                break
            _settle_as_the_dashboard_shows(state, sb)
        stats = sb.stats()
    assert codes[-1] == 0, codes
    check_done(state, stats, n)
    return {"api": version, "seed": seed, "videos": n, "runs": len(codes), "faults": stats["faults"],
            "renders": stats["renders_accepted"], "products_created": stats["products_created"],
            "duplicate_renders": sum(v - 1 for v in stats["renders_per_product"].values())}


def _settle_as_the_dashboard_shows(state: str, sb: Sandbox) -> int:
    """What a user does with a needs-check video: look in the dashboard (here, the
    sandbox's own records), then adopt the render found there or ask for a new one."""
    from jogg_flow.executor import settle

    settled = 0
    for key, record in State.load(state).videos.items():
        if record.get("status") != "needs-check":
            continue
        rendered = [vid for vid, v in sb.store.v2_videos.items() if v["title"] == record.get("marker")]
        if record.get("project_id") in sb.stats()["renders_per_project"]:
            rendered.append(record["project_id"])
        settle(state, key, rendered[0] if rendered else None)
        settled += 1
    return settled


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["crash", "faults"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--api", choices=["open", "v2"], default="open")
    ap.add_argument("--videos", type=int, default=None, help="default: 120 (crash), 20 (faults)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            if args.kind == "crash":
                result = crash(tmp, args.kills, seed, args.videos or 120, args.api)
            else:
                result = faults(tmp, seed, args.videos or 20, version=args.api)
            print(json.dumps(result))


if __name__ == "__main__":
    main()
