"""A 429 means "not carried out": it is never one of a request's few attempts, so a budget set
above what the server allows (or a key shared with a heavier client) slows a run down but
never ends a video; the budget learns the key's real rate and says so."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import requests

from bench.campaigns import write_manifest
from jogg_flow.api.budget import PostBudget
from jogg_flow.sandbox import Config, Sandbox
from tests.conftest import FAKE_KEY


def _apply(run, manifest: str, state: str, url: str, rate: str) -> tuple[int, list[dict[str, Any]]]:
    result = run("apply", manifest, "--api-base", url, "--state", state, "--post-rate", rate,
                 "--poll-interval", "0.05", "--poll-max", "0.2", "--parallelism", "8", "--output", "json",
                 env={"JOGG_API_KEY": FAKE_KEY})
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_a_budget_five_times_above_the_servers_ends_no_video(run, tmp_path):
    manifest = write_manifest(str(tmp_path), 40, "open")
    # The server allows 10 POSTs a second and hints a short wait; the run asks for 50.
    with Sandbox(Config(time_scale=60.0, render_seconds=6.0, post_limit=10, post_window=60.0)) as sb:
        code, events = _apply(run, manifest, str(tmp_path / "s.json"), sb.url, "50/1s")
        stats = sb.stats()
    videos = {e["key"]: e["status"] for e in events if e["event"] == "video"}
    assert code == 0, [e for e in events if e["event"] == "video" and e["status"] != "succeeded"][:3]
    assert set(videos.values()) == {"succeeded"} and len(videos) == 40
    assert stats["rate_limited"] > 0  # the scenario met 429s
    assert stats["renders_accepted"] == 40


def test_another_client_using_the_whole_budget_for_a_while_ends_no_video(run, tmp_path):
    manifest = write_manifest(str(tmp_path), 40, "open")
    with Sandbox(Config(time_scale=60.0, render_seconds=6.0, post_limit=20, post_window=60.0)) as sb:
        done = threading.Event()

        def hog() -> None:  # another client on the same key, POSTing as fast as it may
            end = time.monotonic() + 12.0
            while time.monotonic() < end and not done.is_set():
                requests.post(f"{sb.url}/open/product", json={"url": "https://other.example/p"},
                              headers={"x-api-key": FAKE_KEY}, timeout=5)

        other = threading.Thread(target=hog)
        other.start()
        try:
            code, events = _apply(run, manifest, str(tmp_path / "s.json"), sb.url, "20/1s")
        finally:
            done.set()
            other.join()
    assert code == 0, [e for e in events if e["event"] == "video" and e["status"] != "succeeded"][:3]
    assert {e["status"] for e in events if e["event"] == "video"} == {"succeeded"}


def test_the_budget_lowers_after_a_429_and_creeps_back_after_quiet_windows():
    now = [0.0]
    budget = PostBudget(20, 1.0, clock=lambda: now[0])
    assert budget.throttled() == 15
    now[0] += 1.0
    assert budget.throttled() == 11  # a window later, still too many: a quarter off again
    now[0] += 1.0
    with budget.slot():
        pass
    assert budget.limit == 12  # one step back per quiet window
    now[0] += 0.5
    with budget.slot():
        pass
    assert budget.limit == 12


def test_a_burst_of_429s_within_a_window_lowers_the_budget_once():
    # Eight POSTs in flight meet one overload: cutting a quarter for each would leave 2 of 20.
    now = [0.0]
    budget = PostBudget(20, 1.0, clock=lambda: now[0])
    limits = []
    for _ in range(8):
        limits.append(budget.throttled())
        now[0] += 0.05
    assert limits == [15] * 8
    now[0] = 0.99
    with budget.slot():
        pass
    assert budget.limit == 15  # the last 429 was at 0.35: not yet a quiet window
    now[0] = 1.5
    with budget.slot():
        pass
    assert budget.limit == 16


def test_max_duration_stops_in_time_says_what_remains_and_the_next_apply_finishes(run, tmp_path):
    """A CI job has a time limit: --max-duration closes submitting at three quarters of it,
    stops at all of it with exit 75 and the count left, and the next apply goes on."""
    manifest, state = write_manifest(str(tmp_path), 60, "open"), str(tmp_path / "s.json")
    outputs = tmp_path / "out.txt"
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0)) as sb:  # 20 POSTs a second
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, "--max-duration", "2s",
                     "--poll-interval", "0.05", "--poll-max", "0.2",
                     env={"JOGG_API_KEY": FAKE_KEY, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs)})
        assert result.exit_code == 75, result.stderr
        left = int(next(line for line in outputs.read_text().splitlines() if line.startswith("remaining="))
                   .split("=")[1])
        assert 0 < left < 60
        assert f"--max-duration reached: {left} videos remain" in result.stderr
        code, events = _apply(run, manifest, state, sb.url, "20/1s")
        stats = sb.stats()
    assert code == 0, [e for e in events if e["event"] == "video" and e["status"] != "succeeded"][:3]
    assert stats["renders_accepted"] == 60 and set(stats["renders_per_project"].values()) == {1}
