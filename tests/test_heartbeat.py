"""Without a terminal, `apply` says how it is doing at a steady cadence.

A real process whose stdout is a pipe, against a sandbox on 127.0.0.1 whose renders take
a few seconds: heartbeat lines arrive while renders run, not only at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys

from jogg_flow.sandbox import Config, Sandbox
from jogg_flow.ui.progress import Eta
from tests.conftest import FAKE_KEY, ROOT

MANIFEST = """
version: 1
products:
""" + "".join(f"  - key: p{i}\n    url: https://shop.example/p{i}\n" for i in range(3))


def _apply(tmp_path, *extra: str) -> list[str]:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    env = {**os.environ, "JOGG_API_KEY": FAKE_KEY, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("GITHUB_ACTIONS", None)
    with Sandbox(Config(time_scale=60.0, render_seconds=150.0)) as sb:
        proc = subprocess.run(
            [sys.executable, "-m", "jogg_flow", "apply", str(manifest), "--api-base", sb.url,
             "--state", str(tmp_path / "s.json"), "--poll-interval", "0.2", "--poll-max", "0.3", *extra],
            env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_a_piped_apply_writes_heartbeats_while_renders_run(tmp_path):
    lines = _apply(tmp_path, "--heartbeat", "0.5")
    beats = [i for i, line in enumerate(lines) if line[9:].startswith("… ")]
    first_outcome = next(i for i, line in enumerate(lines) if "succeeded" in line and " p" in line)
    assert beats and beats[0] < first_outcome, lines  # lines during the run, not only at the end
    beat = lines[beats[0]]
    assert "0/3 done" in beat and ("rendering" in beat or "submitting" in beat), beat
    assert "ETA" in beat
    assert lines[-1].split(" ", 1)[1].startswith("3 succeeded in "), lines


def test_quiet_prints_only_outcomes_and_the_summary(tmp_path):
    lines = _apply(tmp_path, "--heartbeat", "0.5", "-q")
    assert len(lines) == 4, lines
    assert all(" succeeded" in line for line in lines), lines


def test_heartbeat_zero_turns_it_off_and_verbose_adds_steps(tmp_path):
    lines = _apply(tmp_path, "--heartbeat", "0", "-v")
    assert not any(line[9:].startswith("… ") for line in lines), lines
    assert any(line.endswith("p0: render") for line in lines), lines


def test_eta_from_render_progress_and_from_the_post_budget():
    now = [0.0]
    eta = Eta(lambda: now[0], post_rate=(20, 60.0))
    eta.track({"event": "step", "key": "a", "step": "render"})
    now[0] = 30.0
    eta.track({"event": "poll", "key": "a", "progress": 25})
    assert eta.remaining({"a": "processing 25%"}) == 90.0  # 30 s for 25 %: 90 s for the rest
    # no render finished yet: the one to submit is counted at the usual render time (300 s)
    assert eta.remaining({"a": "processing 25%", "b": "queued"}) == 306.0
    now[0] = 120.0
    eta.track({"event": "video", "key": "a", "status": "succeeded"})
    # one video still to submit: 2 POSTs at 20 a minute (6 s), then a 120-second render
    assert eta.remaining({"b": "queued"}) == 126.0


def test_eta_without_a_progress_figure_uses_the_typical_render_time():
    # v1 reports no progress: a render read at 0% is measured against the typical time.
    now = [0.0]
    eta = Eta(lambda: now[0], post_rate=(20, 60.0), typical_render=180.0)
    eta.track({"event": "step", "key": "a", "step": "render"})
    now[0] = 60.0
    eta.track({"event": "poll", "key": "a", "progress": 0})
    assert eta.remaining({"a": "rendering"}) == 120.0
    now[0] = 100.0
    eta.track({"event": "video", "key": "a", "status": "succeeded"})
    eta.track({"event": "step", "key": "b", "step": "render"})
    eta.track({"event": "poll", "key": "b", "progress": 0})
    assert eta.remaining({"b": "rendering"}) == 100.0  # this run's own render took 100 s
