"""Crash and fault campaigns: real apply runs against the sandbox, killed or faulted, then
completed; every run checks the promises and returns its figures.

    python bench/campaigns.py crash --kills 100 --seeds 0 1 2 3 --api v1
    python bench/campaigns.py faults --seeds 0 1 2 3 4 --videos 20 --api all
    python bench/campaigns.py readings --seeds 0 1 2 --videos 20 --api all

The test suite runs small versions of both over every generation (tests/test_crash.py,
tests/test_faults.py); `pytest -m slow` runs larger ones.

A render whose answer was lost ends as `needs-check` when the evidence stays ambiguous (the
crash campaign's renders read status 1, "start", for ten seconds of real time, as an accepted
G0 render can), never sent twice. Under `open` and `v2` later applies alone settle them: each
reads the evidence again and adopts what JoggAI shows, and `--rerender-unseen-after 30s`
renders again what never left (a kill between the in-flight mark and the POST). Under `v1`,
which offers no read, the driver does what a user would after a look at the dashboard: the
sandbox knows, by the video's unique name, whether that render was accepted; if so the
record adopts it, if not the render step is cleared for the next apply to send. Such videos
are counted (`needs_check`).
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
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jogg_flow.cli import cli  # noqa: E402
from jogg_flow.sandbox import Config, Fault, Sandbox, realistic  # noqa: E402
from jogg_flow.state import State  # noqa: E402

KEY = "jf-campaign-key-0c9d2e7f41"
FAULT_MIX = {"http_500": 0.08, "rate_429": 0.08, "reset_before": 0.04, "drop_after_commit": 0.06,
             "malformed": 0.04, "html_502": 0.04, "slow": 0.03}
FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2")
GENERATIONS = ("open", "v1", "v2")
READS_EVIDENCE = ("open", "v2")  # a free read can settle a needs-check (v1: only the user)
# API seconds (ten real seconds) an accepted render reads "start" in the crash campaign: the
# renders whose answers the last kills lost still read it when the next runs look, so they
# leave needs-checks. Its runs' settle rule (--rerender-unseen-after) is three times as long:
# a rule shorter than "start" lasts would render an accepted render again (the rule's risk).
START_SECONDS = 600.0


def write_manifest(directory: str, n: int, version: str = "open", name: str = "") -> str:
    """A manifest (its state named `name`, default campaign-VERSION) of n products of its own."""
    name = name or f"campaign-{version}"
    path = os.path.join(directory, f"{name}.yaml")
    with open(path, "w") as fh:
        fh.write(f"version: 1\napi: {{version: {version}}}\n"
                 "defaults: {render: {avatar_id: 37}}\nproducts:\n" + "".join(
            f"  - key: p{i}\n    url: https://shop.example/{name}/{i}\n    details: {{title: P{i}}}\n"
            for i in range(n)))
    return path


def check_done(state: str, stats: dict[str, Any], n: int) -> None:
    """Every video succeeded (or awaits the user's check), and no render was accepted twice.

    Exactly-once is counted per project/video: under v1 and v2 a product's variants may
    share one product, so a product can rightly have several renders.
    """
    records = State.load(state).videos
    assert len(records) == n, records
    assert all(r["status"] in ("succeeded", "needs-check") for r in records.values()), records
    renders = stats["renders_per_project"]
    assert set(renders.values()) <= {1}, renders
    assert all(renders[str(r["project_id"])] == 1 for r in records.values() if r["status"] == "succeeded")
    with open(state) as fh:
        assert KEY not in fh.read()


def duplicates(stats: dict[str, Any]) -> int:
    """Renders JoggAI accepted beyond the first, for any project or video."""
    return sum(v - 1 for v in stats["renders_per_project"].values())


def settle(state_path: str, stats: dict[str, Any], name: str = "") -> int:
    """Settle every `needs-check` video as a user would after checking the dashboard (here,
    the sandbox's own records), through the same code as `state adopt` / `state rerender`;
    return how many there were."""
    from jogg_flow import state as stores
    from jogg_flow.state.edits import settle as settle_video

    settled = 0
    with stores.locked(state_path, name) as store:
        for key, record in dict(store.videos).items():
            if record.get("status") != "needs-check":
                continue
            by_name = stats["renders_by_name"].get(record.get("marker") or "", [])
            if by_name:  # v1, v2: the dashboard shows the video by the name we sent
                settle_video(store, key, by_name[-1])
            elif str(record.get("project_id")) in stats["renders_per_project"]:  # open: its project
                settle_video(store, key, str(record["project_id"]))
            else:  # never accepted: let the next apply send it
                settle_video(store, key, None)
            settled += 1
    return settled


def needs_checks(state: str) -> int:
    """How many of the state's videos are `needs-check`."""
    return sum(r.get("status") == "needs-check" for r in State.load(state).videos.values())


def _finish(url: str, manifest: str, state: str, stats: Any, version: str,
            rule: tuple[str, ...] = ()) -> dict[str, int]:
    """Apply until a run exits 0. Under open and v2 the applies alone settle needs-check
    videos (a second between runs, as CI runs follow one another); under v1 the driver
    settles them between runs, as a user would. The needs-check counts after the first and
    the last apply, how many applies it took, and how many the user settled."""
    counts: list[int] = []
    by_user = 0
    for _ in range(30):
        final = _start(url, manifest, state, extra=rule)
        _, err = final.communicate(timeout=300)
        assert final.returncode in (0, 1), err
        counts.append(needs_checks(state))
        if final.returncode == 0:
            return {"needs_check_after_first_apply": counts[0], "needs_check_after_last_apply": counts[-1],
                    "applies_to_finish": len(counts), "needs_check_settled_by_user": by_user}
        if version in READS_EVIDENCE:
            time.sleep(1.0)
            continue
        settled = settle(state, stats())
        assert settled, err  # exit 1 only for videos awaiting a check
        by_user += settled
    raise AssertionError(f"apply did not finish in 30 runs; needs-check after each: {counts}")


def _history(state: str, mark: str) -> int:
    """History entries holding `mark` (adopted, rerendered_unseen) over the state's videos."""
    return sum(1 for r in State.load(state).videos.values() for h in r.get("history") or []
               if isinstance(h, dict) and mark in h)


def _accepted(record: dict[str, Any], stats: dict[str, Any]) -> bool:
    """Whether JoggAI accepted the record's render: by project (open) or video name (v1, v2)."""
    return (str(record.get("project_id")) in stats["renders_per_project"]
            or (record.get("marker") or "") in stats["renders_by_name"])


def _start(url: str, manifest: str, state: str,
           popen: Callable[..., subprocess.Popen[str]] = subprocess.Popen,
           extra: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    """A real `jogg-flow apply --output json` (`popen`: the tests' `spawn`, which reaps it;
    `extra`: more options, such as the settle rule)."""
    return popen(
        [sys.executable, "-m", "jogg_flow", "apply", manifest, "--api-base", url, "--state", state,
         *FAST, *extra, "--parallelism", "3", "--output", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "JOGG_API_KEY": KEY})


def crash(directory: str, kills: int, seed: int, n: int = 6, version: str = "open",
          real: bool = False, start_seconds: float = START_SECONDS) -> dict[str, Any]:
    """SIGKILL a real apply at random instants `kills` times, then apply until a run exits 0.

    After each kill the state must parse; the figures count the kills that landed inside a
    POST: a render JoggAI accepted whose answer the victim never recorded (the next run must
    adopt it, not pay again), or a create left in flight (a possible orphan product). Accepted
    renders read "start" for `start_seconds` API seconds; every run passes
    `--rerender-unseen-after` three times that long. The needs-check counts after the first
    and the last of the finishing applies are in the figures.
    """
    rule = ("--rerender-unseen-after", f"{max(1.0, 3 * start_seconds / 60.0):g}s")
    rng = random.Random(seed)
    state = os.path.join(directory, f"crash{seed}-{version}.json")
    manifest = write_manifest(directory, n, version)
    lost_render = open_create = 0
    lost_answers: set[tuple[str, Any]] = set()
    config = Config(time_scale=60.0, render_seconds=60.0, latency=0.02, start_seconds=start_seconds)
    with Sandbox(realistic(config) if real else config) as sb:
        for _ in range(kills):
            proc = _start(sb.url, manifest, state, extra=rule)
            time.sleep(rng.uniform(0.4, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            time.sleep(0.05)  # let a request the victim had sent reach the sandbox
            records = State.load(state).videos  # parses after every kill
            stats = sb.stats()
            # A needs-check record stays in flight until settled: it was counted when it landed.
            lost = {(k, r.get("marker")) for k, r in records.items() if r["steps"].get("render") == "inflight"
                    and r.get("status") != "needs-check" and _accepted(r, stats)}
            lost_render += bool(lost)
            lost_answers |= lost
            open_create += any(r["steps"].get("create") == "inflight" for r in records.values())
        left_by_kills = needs_checks(state)
        finished = _finish(sb.url, manifest, state, sb.stats, version, rule)
        stats = sb.stats()
    check_done(state, stats, n)
    return {"api": version, "realistic": real, "seed": seed, "videos": n, "kills": kills,
            "kills_after_an_accepted_render_before_its_record": lost_render,
            "kills_with_a_create_in_flight": open_create, "lost_render_answers": len(lost_answers),
            "needs_check_left_by_kills": left_by_kills, **finished,
            "adopted_by_later_applies": _history(state, "adopted"),
            "rerendered_unseen": _history(state, "rerendered_unseen"),
            "products_created": stats["products_created"], "renders": stats["renders_accepted"],
            "duplicate_renders": duplicates(stats)}


def faults(directory: str, seed: int, n: int, fail_rate: float = 0.1, real: bool = False,
           version: str = "open") -> dict[str, Any]:
    """Apply under a seeded mix of every fault until it exits 0 (at most 15 runs); a run that
    leaves failed renders is followed by one with `--retry-failed`, as the user would ask."""
    config = Config(time_scale=60.0, render_seconds=20.0, slow_seconds=0.6, fail_rate=fail_rate,
                    seed=seed, faults=[Fault(k, "*", probability=p) for k, p in FAULT_MIX.items()])
    state = os.path.join(directory, f"faults{seed}-{version}.json")
    manifest = write_manifest(directory, n, version)
    codes = []
    needs_check = failed = 0
    retry: list[str] = []
    with Sandbox(realistic(config) if real else config) as sb:
        for _ in range(15):
            result = CliRunner().invoke(cli, [
                "apply", manifest, "--api-base", sb.url, "--state", state, *FAST, *retry,
                "--request-timeout", "0.3", "--output", "json"], env={"JOGG_API_KEY": KEY})
            codes.append(result.exit_code)
            assert result.exit_code in (0, 1), result.stderr
            assert "Traceback" not in result.stderr
            for line in result.stdout.splitlines():
                json.loads(line)
            State.load(state)
            if result.exit_code == 0:
                break
            needs_check += settle(state, sb.stats())
            # A failed render is kept failed: the user asks for it again, as a person would.
            kept = sum(r.get("status") == "failed" for r in State.load(state).videos.values())
            failed += kept
            retry = ["--retry-failed"] if kept else []
        stats = sb.stats()
    assert codes[-1] == 0, codes
    check_done(state, stats, n)
    return {"api": version, "realistic": real, "seed": seed, "videos": n, "runs": len(codes),
            "faults": stats["faults"],
            "answers_dropped_after_commit": stats["faults"].get("drop_after_commit", 0),
            "needs_check": needs_check, "failed_kept_then_retried": failed,
            "renders": stats["renders_accepted"],
            "renders_per_video": round(stats["renders_accepted"] / n, 2),
            "products_created": stats["products_created"],
            "duplicate_renders": duplicates(stats)}


# The readings that must never spend again (#21): refusals of a render POST (not carried out),
# spurious "not found" and bare 404 answers while reading an accepted render, and renders
# JoggAI fails.
REFUSAL_MIX = {"code_18020": 0.08, "code_40000": 0.05, "code_18025": 0.03, "bare_403": 0.03}
READING_MIX = {"code_10104": 0.3, "html_404": 0.15}
RENDER_ROUTE = {"open": "POST /open/project/render", "v1": "POST /v1/create_video_from_url",
                "v2": "POST /v2/create_video_from_product"}
STATUS_ROUTE = {"open": "GET /open/prj_info", "v1": "GET /v1/project", "v2": "GET /v2/product_video/*"}
CREDITS = 100_000


def readings(directory: str, seed: int, n: int, version: str = "open",
             fail_rate: float = 0.15) -> dict[str, Any]:
    """Apply under refusals, spurious "not found" reads and failed renders until a run exits
    0 (at most 20 runs). Between runs the driver acts as the user: it settles needs-check
    videos and asks for failed ones again (`--retry-failed`). Every render beyond one per
    video must be one the user asked for: `renders_spent_by_readings` must be 0."""
    faults = [Fault(k, RENDER_ROUTE[version], probability=p) for k, p in REFUSAL_MIX.items()]
    faults += [Fault(k, STATUS_ROUTE[version], probability=p) for k, p in READING_MIX.items()]
    config = Config(time_scale=60.0, render_seconds=20.0, fail_rate=fail_rate, seed=seed,
                    credits=CREDITS, faults=faults)
    state = os.path.join(directory, f"readings{seed}-{version}.json")
    manifest = write_manifest(directory, n, version, name=f"readings-{version}-{seed}")
    runs = needs_check = asked = 0
    retry: list[str] = []
    with Sandbox(config) as sb:
        for _ in range(20):
            runs += 1
            result = CliRunner().invoke(cli, [
                "apply", manifest, "--api-base", sb.url, "--state", state, *FAST, *retry,
                "--output", "json"], env={"JOGG_API_KEY": KEY})
            assert result.exit_code in (0, 1), result.stderr
            assert "Traceback" not in result.stderr
            if result.exit_code == 0:
                break
            needs_check += settle(state, sb.stats())
            kept = sum(r.get("status") == "failed" for r in State.load(state).videos.values())
            asked += kept  # each is rendered again by the next run, because the user asked
            retry = ["--retry-failed"] if kept else []
        stats = sb.stats()
    assert result.exit_code == 0, result.stderr
    check_done(state, stats, n)
    renders = stats["renders_accepted"]
    return {"api": version, "seed": seed, "videos": n, "runs": runs, "faults": stats["faults"],
            "renders": renders, "renders_per_video": round(renders / n, 2),
            "renders_asked_by_the_user": asked, "renders_spent_by_readings": renders - n - asked,
            "needs_check": needs_check, "credits_charged": CREDITS - (stats["credits_left"] or 0),
            "duplicate_renders": duplicates(stats)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["crash", "faults", "readings"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--api", choices=[*GENERATIONS, "all"], default="open")
    ap.add_argument("--videos", type=int, default=None, help="default: 120 (crash), 20 (faults)")
    ap.add_argument("--realistic", action="store_true",
                    help="the sandbox's realistic mode: 429 without a hint, renders reading status 1 a while")
    args = ap.parse_args()
    versions = GENERATIONS if args.api == "all" else (args.api,)
    with tempfile.TemporaryDirectory() as tmp:
        for version in versions:
            for seed in args.seeds:
                if args.kind == "crash":
                    result = crash(tmp, args.kills, seed, args.videos or 120, version, args.realistic)
                elif args.kind == "readings":
                    result = readings(tmp, seed, args.videos or 20, version)
                else:
                    result = faults(tmp, seed, args.videos or 20, version=version, real=args.realistic)
                print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
