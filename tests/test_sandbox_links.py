"""Sandbox results point at files that exist (issue 23, item 4): outcome lines, `outputs`
and the step summary link the media `--sandbox` kept, not the dead sandbox's URLs;
`--download` reuses them; a download that fails is one plain line about the download."""

from __future__ import annotations

import json
import os

from jogg_flow.sandbox import Config, Sandbox
from tests.conftest import FAKE_KEY

MANIFEST = ("version: 1\napi: {version: v1}\ndefaults:\n  render: {avatar_id: 37, script_style: Discovery}\n"
            "products:\n  - {key: blender, url: 'https://shop.example/blender'}\n")
FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2")


def test_outcomes_outputs_and_the_step_summary_link_the_kept_files(run, write, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write("m.yaml", MANIFEST)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(tmp_path / "o")}
    result = run("apply", "m.yaml", "--sandbox", "--yes", env=env)
    assert result.exit_code == 0, result.stderr
    kept = os.path.join(".jogg-flow", "sandbox-media", "blender.mp4")
    assert os.path.isfile(kept)
    assert [line.split(None, 1)[1] for line in result.stdout.splitlines() if " succeeded   " in line] == [
        f"succeeded   blender  {kept}"]
    assert "127.0.0.1" not in result.stdout
    assert kept in summary.read_text() and "127.0.0.1" not in summary.read_text()

    table = run("outputs", "m.yaml", "--sandbox")
    assert kept in table.stdout and "127.0.0.1" not in table.stdout
    rows = json.loads(run("outputs", "m.yaml", "--sandbox", "--output", "json").stdout)
    assert (rows[0]["video_url"], rows[0]["cover_url"]) == (kept, kept.replace(".mp4", ".cover.png"))


def test_download_with_sandbox_reuses_the_kept_files(run, write, tmp_path):
    manifest = write("m.yaml", MANIFEST)
    assert run("apply", manifest, "--sandbox", "--yes").exit_code == 0
    # A later run, its sandbox on another port: nothing to render, the files still come.
    again = run("apply", manifest, "--sandbox", "--yes", "--download", str(tmp_path / "dl"))
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "failed" not in again.stdout
    assert sorted(os.listdir(tmp_path / "dl")) == ["blender.cover.png", "blender.mp4"]
    assert (tmp_path / "dl" / "blender.mp4").read_bytes() == (
        tmp_path / ".jogg-flow" / "sandbox-media" / "blender.mp4").read_bytes()


def test_a_failed_download_is_one_plain_line_about_the_download(run, write, tmp_path):
    manifest, state = write("m.yaml", MANIFEST), str(tmp_path / "s.json")
    with Sandbox(Config(time_scale=60.0, render_seconds=6.0)) as sb:
        base = sb.url
        assert run("apply", manifest, "--api-base", base, "--state", state, *FAST,
                   env={"JOGG_API_KEY": FAKE_KEY}).exit_code == 0
    # Nothing to do makes no API call: only the downloads meet the closed sandbox.
    result = run("apply", manifest, "--api-base", base, "--state", state, *FAST,
                 "--download", str(tmp_path / "dl"), "-v", env={"JOGG_API_KEY": FAKE_KEY})
    lines = [line[9:] for line in result.stdout.splitlines()]
    assert "up-to-date  blender" in "\n".join(lines)
    failures = [line for line in lines if "failed" in line]
    assert failures and all(line.startswith("download failed: blender: ") for line in failures), lines
    assert not any(word in result.stdout + result.stderr for word in ("Traceback", "Errno", "urllib3"))
    assert result.exit_code == 1
