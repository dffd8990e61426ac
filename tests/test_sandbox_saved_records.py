"""`apply --sandbox` keeps the sandbox's records between runs, as JoggAI keeps renders
going after the run that asked for them: a `--no-wait` or interrupted trial resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

MANIFEST = """
    version: 1
    defaults:
      render: {avatar_id: 37, lang: english}
    products:
      - key: kettle
        url: https://shop.example/kettle
      - key: lamp
        url: https://shop.example/lamp
"""


def _apply(path: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JOGG_API_KEY", "CI", "GITHUB_ACTIONS")}
    return subprocess.run([sys.executable, "-m", "jogg_flow", "apply", path, "--sandbox", *extra],
                          capture_output=True, text=True, timeout=120, env=env)


def _projects(path: str) -> dict[str, str]:
    state = os.path.join(os.path.dirname(path), ".jogg-flow", "shop.sandbox.state.json")
    listed = subprocess.run([sys.executable, "-m", "jogg_flow", "state", "list", path, "--sandbox",
                             "--output", "json"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert os.path.exists(state)
    return {row["key"]: row["project_id"] for row in json.loads(listed.stdout)}


def test_a_no_wait_trial_is_collected_by_the_next_sandbox_run(write):
    path = write("shop.yaml", MANIFEST)
    first = _apply(path, "--no-wait")
    assert first.returncode == 0, first.stderr
    submitted = _projects(path)
    assert all(submitted.values())

    second = _apply(path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "10104" not in second.stdout + second.stderr
    assert second.stdout.count("succeeded") >= 2
    assert _projects(path) == submitted  # collected, not rendered again from fresh projects


def test_a_damaged_sandbox_memory_is_no_traceback(write):
    path = write("shop.yaml", MANIFEST)
    assert _apply(path, "--no-wait").returncode == 0
    kept = os.path.join(os.path.dirname(path), ".jogg-flow", "shop.sandbox-api.json")
    with open(kept, "w") as fh:
        fh.write('{"version": 1, "products": 7')
    again = _apply(path)
    assert "Traceback" not in again.stderr
    # The records are gone: the renders read "not found" again and again. A render JoggAI
    # accepted is never replaced on our own (#21): needs-check, which the user settles.
    assert again.returncode == 1 and again.stdout.count("needs-check") >= 2, again.stdout
    for key in _projects(path):
        settled = subprocess.run([sys.executable, "-m", "jogg_flow", "state", "rerender", path, key,
                                  "--sandbox"], capture_output=True, text=True, timeout=60)
        assert settled.returncode == 0, settled.stderr
    third = _apply(path)  # open: the project is gone too, so its product is made afresh
    assert third.returncode == 1 and "the next apply starts from a fresh product" in third.stdout
    fourth = _apply(path)
    assert fourth.returncode == 0, fourth.stdout + fourth.stderr
