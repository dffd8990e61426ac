"""`apply --sandbox` keeps the sandbox's records between runs, as JoggAI keeps renders
going after the run that asked for them: a `--no-wait` or interrupted trial resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

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


TWENTY = "version: 1\nname: shop\n{api}defaults: {{render: {{avatar_id: 37}}}}\nproducts:\n" + "".join(
    f"  - key: p{i:02d}\n    url: https://shop.example/p{i:02d}\n" for i in range(20))


@pytest.mark.parametrize("version", ["open", "v1"])  # the README's manifests, and what init writes
def test_an_apply_sandbox_killed_with_sigkill_is_finished_by_the_next_one(write, spawn, version):
    # The README's first experience of "resumable after a crash": kill -9 an `apply --sandbox`
    # while its renders are under way, then run it again.
    path = write("shop.yaml", TWENTY.format(api="" if version == "open" else f"api: {{version: {version}}}\n"))
    env = {k: v for k, v in os.environ.items() if k not in ("JOGG_API_KEY", "CI", "GITHUB_ACTIONS")}
    proc = spawn([sys.executable, "-m", "jogg_flow", "apply", path, "--sandbox", "--output", "json"],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    polled: set[str] = set()
    finished: set[str] = set()
    for line in proc.stdout:
        event = json.loads(line)
        polled |= {event["key"]} if event["event"] == "poll" else set()
        finished |= {event["key"]} if event["event"] == "video" else set()
        if len(polled) == 20:  # every render accepted (none whose answer is still to come)
            break
    proc.kill()
    proc.wait(timeout=30)
    assert proc.returncode == -9
    assert len(finished) < 20  # killed while renders were still under way
    before = _projects(path)
    rendering = {k: v for k, v in before.items() if v}
    assert len(rendering) == 20

    again = _apply(path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "10104" not in again.stdout + again.stderr and "Record not found" not in again.stdout
    after = _projects(path)
    assert len(after) == 20
    assert {k: after[k] for k in rendering} == rendering  # collected, not rendered again
    kept = os.path.join(os.path.dirname(path), ".jogg-flow", "shop.sandbox-api.json")
    with open(kept) as fh:
        records = json.load(fh)
    rendered = [p for p, project in records["projects"] if project["rendered_at"] is not None]
    rendered += [p for p, _ in records["v1_projects"]]  # each v1 render is a project of its own
    assert sorted(rendered) == sorted(after.values())  # exactly one render per video
    listed = subprocess.run([sys.executable, "-m", "jogg_flow", "state", "list", path, "--sandbox",
                             "--output", "json"], capture_output=True, text=True, timeout=60)
    assert {row["status"] for row in json.loads(listed.stdout)} == {"succeeded"}


def test_records_are_on_disk_before_the_answer_and_a_torn_line_is_skipped(tmp_path):
    # What a kill -9 leaves: the files as they are while the sandbox still runs.
    import shutil

    from jogg_flow.sandbox import Config, Sandbox
    from jogg_flow.sandbox import saved as sandbox_saved
    from jogg_flow.sandbox.backend import Backend

    path = str(tmp_path / "live" / ".jogg-flow" / "shop.sandbox-api.json")
    crashed = tmp_path / "crashed"
    with Sandbox(Config(time_scale=60.0)) as sb, sandbox_saved.kept(sb.backend, path):
        made = sb.backend.create_product({"url": "https://shop.example/kettle"}, sb.url)
        sb.backend.render({"project_id": made["prj_id"]}, None)
        shutil.copytree(os.path.dirname(path), crashed)
    journal = crashed / "shop.sandbox-api.journal"
    with open(journal, "a") as fh:
        fh.write('{"t":"projects","k":"torn-by-the-crash","v":{"pro')
    fresh = Backend(Config(time_scale=60.0))
    sandbox_saved.recall(fresh, str(crashed / "shop.sandbox-api.json"))
    assert fresh.products[made["id"]]["url"] == "https://shop.example/kettle"
    assert fresh.projects[made["prj_id"]]["rendered_at"] is not None
    assert "torn-by-the-crash" not in fresh.projects
