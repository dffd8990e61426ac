"""One set of flags across commands, and errors said once and plainly."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import pytest
import yaml

from tests.conftest import FAKE_KEY, ROOT

MANIFEST = """
version: 1
products:
  - key: kettle
    url: https://shop.example/kettle
"""
BAD = """
version: 1
products:
  - key: kettle
    url: not a url
"""


def test_outputs_takes_output_and_keeps_format_as_an_alias(run, write, sandbox):
    manifest = write("m.yaml", MANIFEST)
    env = {"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": sandbox.url}
    assert run("apply", manifest, "--poll-interval", "0.1", "-q", env=env).exit_code == 0
    as_json = json.loads(run("outputs", manifest, "--output", "json", env=env).stdout)
    assert as_json[0]["key"] == "kettle" and as_json[0]["status"] == "succeeded"
    assert run("outputs", manifest, "--format", "json", env=env).stdout == \
        run("outputs", manifest, "--output", "json", env=env).stdout
    assert run("outputs", manifest, "--output", "csv", env=env).stdout.startswith("key,project_id,status")
    assert run("outputs", manifest, "--format", "table", env=env).stdout.startswith("KEY")
    assert "--format" not in run("outputs", "--help").stdout


@pytest.mark.parametrize("command", ["plan", "apply", "outputs"])
def test_an_invalid_manifest_prints_a_json_error_in_json_mode(run, write, command):
    manifest = write("bad.yaml", BAD)
    result = run(command, manifest, "--output", "json", env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 3
    assert len(result.stdout.splitlines()) == 1  # one line: apply's JSON is one object per line
    body = json.loads(result.stdout)
    assert body["ok"] is False and body["problems"][0]["line"] == 4
    assert "url" in body["problems"][0]["message"]


@pytest.mark.parametrize("command", ["plan", "apply", "outputs"])
def test_sandbox_with_api_base_is_refused_naming_both(run, write, command):
    result = run(command, write("m.yaml", MANIFEST), "--sandbox", "--api-base", "http://127.0.0.1:9")
    assert result.exit_code == 3
    assert "--sandbox and --api-base http://127.0.0.1:9 cannot be used together" in result.stderr


def test_a_busy_port_is_one_line_without_a_traceback():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "jogg_flow", "sandbox", "--port", str(port)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                              timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(is another sandbox running? try --port 0 for any free port)"]


def test_the_step_summary_links_to_the_gallery_artifact(run, write, sandbox, tmp_path):
    summary = tmp_path / "summary.md"
    env = {"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": sandbox.url, "GITHUB_ACTIONS": "true",
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_SERVER_URL": "https://github.com",
           "GITHUB_REPOSITORY": "acme/videos", "GITHUB_RUN_ID": "42", "JOGG_FLOW_GALLERY_ARTIFACT": "gallery"}
    assert run("apply", write("m.yaml", MANIFEST), "--poll-interval", "0.1", "-q", env=env).exit_code == 0
    text = summary.read_text()
    assert "download the **gallery** artifact from [this run's artifacts]" \
        "(https://github.com/acme/videos/actions/runs/42#artifacts)" in text
    env.pop("JOGG_FLOW_GALLERY_ARTIFACT")
    summary.unlink()
    assert run("apply", write("m.yaml", MANIFEST), "-q", env=env).exit_code == 0
    assert "artifact" not in summary.read_text()


def test_the_pre_commit_hook_matches_only_manifests():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    pattern = re.compile(hooks[0]["files"])
    for path in ("manifests/spring-launch.yaml", "marketing/manifests/q3/launch.yml", "jogg-flow.yaml",
                 "campaigns/spring.jogg-flow.yml"):
        assert pattern.search(path), path
    for path in (".github/workflows/ci.yml", "docker-compose.yaml", ".pre-commit-config.yaml",
                 "jogg-flow/config.yaml"):
        assert not pattern.search(path), path


def test_catalog_takes_output_and_keeps_format_as_an_alias(run):
    as_output = run("catalog", "avatars", "--sandbox", "--output", "json")
    assert as_output.exit_code == 0 and json.loads(as_output.stdout)
    assert run("catalog", "avatars", "--sandbox", "--format", "json").stdout == as_output.stdout
    assert run("catalog", "avatars", "--sandbox").stdout.startswith("ID")


def test_a_piped_sandbox_apply_writes_lines_throughout_the_run(tmp_path):
    """The issue's bar, through `--sandbox` and its default heartbeat (5 s)."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 1\nproducts:\n" + "".join(
        f"  - key: p{i}\n    url: https://shop.example/p{i}\n" for i in range(8)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("GITHUB_ACTIONS", None)
    proc = subprocess.run([sys.executable, "-m", "jogg_flow", "apply", str(manifest), "--sandbox",
                           "--post-rate", "6/4s"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if " succeeded in " in line)
    assert any(line[9:].startswith("… ") for line in lines[:summary]), lines
    assert lines[-1].startswith("videos in ") and "--output html" in lines[-1]


def test_one_render_is_said_in_the_singular(write, run):
    manifest = write("m.yaml", MANIFEST)
    result = run("apply", manifest, "--sandbox", "--poll-interval", "0.05", "--poll-max", "0.2")
    assert result.exit_code == 0, result.stderr
    assert "this plan: 1 render (~1 credit), 2 POSTs (~" in result.stdout, result.stdout
    assert "1 renders" not in result.stdout and "1 credits" not in result.stdout
    plan = run("plan", write("n.yaml", MANIFEST.replace("kettle", "lamp")), "--sandbox")
    assert "Estimate: 1 render ≈ 1 credit (1 per video up to 2 minutes); 2 POSTs" in plan.stdout
