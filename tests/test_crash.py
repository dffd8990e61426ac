"""Real `jogg-flow apply` processes killed with SIGKILL and SIGINT, then resumed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from jogg_flow.sandbox import Config, Sandbox
from jogg_flow.state import State
from tests.conftest import FAKE_KEY

PRODUCTS = 6


def manifest(tmp_path) -> str:
    body = "version: 1\nproducts:\n" + "".join(
        f"  - key: p{i}\n    url: https://shop.example/p/{i}\n    details: {{title: P{i}}}\n"
        for i in range(PRODUCTS))
    path = tmp_path / "crash.yaml"
    path.write_text(body)
    return str(path)


def start(sb: Sandbox, manifest_path: str, state: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jogg_flow", "apply", manifest_path, "--api-base", sb.url,
         "--state", state, "--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2",
         "--parallelism", "3", "--output", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "JOGG_API_KEY": FAKE_KEY})


def campaign(tmp_path, kills: int, seed: int) -> dict:
    rng = random.Random(seed)
    config = Config(time_scale=60.0, render_seconds=20.0, latency=0.03)
    state = str(tmp_path / "state.json")
    path = manifest(tmp_path)
    killed_mid_post = 0
    with Sandbox(config) as sb:
        for _ in range(kills):
            proc = start(sb, path, state)
            time.sleep(rng.uniform(0.3, 1.6))
            before = sum(sb.stats()["requests"].values())
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            if sum(sb.stats()["requests"].values()) > before:
                killed_mid_post += 1  # a request arrived as the process died
            State.load(state)  # must parse after every kill
            if os.path.exists(state):
                with open(state) as fh:
                    json.load(fh)
        final = start(sb, path, state)
        out, err = final.communicate(timeout=120)
        stats = sb.stats()
    assert final.returncode == 0, err
    outcomes = [json.loads(line) for line in out.splitlines() if '"event": "video"' in line]
    assert {o["status"] for o in outcomes} <= {"succeeded", "up-to-date"} and len(outcomes) == PRODUCTS
    records = State.load(state).videos
    assert all(r["status"] == "succeeded" for r in records.values())
    # Exactly one accepted render per video, whatever the kills interrupted.
    assert set(stats["renders_per_project"].values()) == {1}
    assert stats["renders_accepted"] == PRODUCTS
    with open(state) as fh:
        assert FAKE_KEY not in fh.read()
    return {"kills": kills, "mid_request": killed_mid_post, "products": stats["products_created"]}


def test_sigkill_at_random_instants_never_renders_twice(tmp_path):
    campaign(tmp_path, kills=5, seed=7)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_sigkill_campaign(tmp_path, seed):
    campaign(tmp_path, kills=25, seed=seed)


def test_sigint_saves_state_and_exits_130_then_resumes(tmp_path):
    config = Config(time_scale=60.0, render_seconds=60.0)
    state = str(tmp_path / "state.json")
    path = manifest(tmp_path)
    with Sandbox(config) as sb:
        proc = start(sb, path, state)
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until renders are being submitted
            if '"step": "render"' in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert State.load(state).videos
        final = start(sb, path, state)
        out, err = final.communicate(timeout=60)
        assert final.returncode == 0, err
        stats = sb.stats()
    assert set(stats["renders_per_project"].values()) == {1}
    assert stats["renders_accepted"] == PRODUCTS
