"""Faults in combination: every run completes or stops with a clear error; never a second
render for a video, never a lost answer."""

from __future__ import annotations

import json

import pytest

from jogg_flow.sandbox import Config, Fault, Sandbox
from jogg_flow.state import State
from tests.conftest import FAKE_KEY

KINDS = {"http_500": 0.08, "rate_429": 0.08, "reset_before": 0.04, "drop_after_commit": 0.06,
         "malformed": 0.04, "html_502": 0.04, "slow": 0.03}


def manifest(write, n: int) -> str:
    return write("f.yaml", "version: 1\nproducts:\n" + "".join(
        f"  - key: p{i}\n    url: https://shop.example/p/{i}\n    details: {{title: P{i}}}\n"
        for i in range(n)))


def campaign(write, run, tmp_path, seed: int, n: int, fail_rate: float = 0.1) -> dict:
    faults = [Fault(kind, "*", probability=p) for kind, p in KINDS.items()]
    config = Config(time_scale=60.0, render_seconds=20.0, slow_seconds=0.6, fail_rate=fail_rate,
                    seed=seed, faults=faults)
    path, state = manifest(write, n), str(tmp_path / f"s{seed}.json")
    codes = []
    with Sandbox(config) as sb:
        for _ in range(15):
            result = run("apply", path, "--api-base", sb.url, "--state", state, "--post-rate",
                         "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2",
                         "--request-timeout", "0.3", "--output", "json",
                         env={"JOGG_API_KEY": FAKE_KEY})
            codes.append(result.exit_code)
            assert result.exit_code in (0, 1), result.stderr
            assert "Traceback" not in result.stderr
            for line in result.stdout.splitlines():
                json.loads(line)  # every event line is whole JSON
            records = State.load(state).videos
            if result.exit_code == 0:
                break
        stats = sb.stats()
    assert codes[-1] == 0, codes
    assert all(r["status"] == "succeeded" for r in records.values()) and len(records) == n
    # Every project was rendered at most once; every video's current project exactly once.
    renders = stats["renders_per_project"]
    assert set(renders.values()) == {1}
    assert all(renders[r["project_id"]] == 1 for r in records.values())
    return {"runs": len(codes), "faults": stats["faults"], "renders": stats["renders_accepted"]}


def test_fault_mix_small(write, run, tmp_path):
    campaign(write, run, tmp_path, seed=3, n=6)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_fault_mix_campaign(write, run, tmp_path, seed):
    campaign(write, run, tmp_path, seed=seed, n=20)
