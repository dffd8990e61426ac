"""State commands agree (issue 23, item 10): `state import` takes `--sandbox` and checks
which API the state belongs to before any network; `state list` of a manifest with only a
sandbox state says so; `state mv` and `rm` keep the sandbox's kept videos in step."""

from __future__ import annotations

import json
import os

from tests.conftest import FAKE_KEY

MANIFEST = ("version: 1\napi: {version: v1}\ndefaults:\n  render: {avatar_id: 37, script_style: Discovery}\n"
            "products:\n  - {key: blender, url: 'https://shop.example/blender'}\n"
            "  - {key: kettle, url: 'https://shop.example/kettle'}\n")


def _records(run, manifest, *flags):
    listed = run("state", "list", manifest, "--output", "json", *flags)
    assert listed.exit_code == 0, listed.stderr
    return {r["key"]: r for r in json.loads(listed.stdout)}


def test_state_import_takes_sandbox(run, write):
    manifest = write("m.yaml", MANIFEST)
    assert run("apply", manifest, "--sandbox", "--yes").exit_code == 0
    project = _records(run, manifest, "--sandbox")["kettle"]["project_id"]
    assert run("state", "rm", manifest, "kettle", "--sandbox").exit_code == 0
    # The sandbox remembers what earlier runs made: the project is read there, no key needed.
    imported = run("state", "import", manifest, "kettle", project, "--sandbox", env={"JOGG_API_KEY": None})
    assert imported.exit_code == 0, imported.stderr
    assert imported.stdout.strip() == f"imported kettle: project {project}, succeeded"
    assert _records(run, manifest, "--sandbox")["kettle"]["status"] == "succeeded"


def test_state_import_checks_the_states_api_before_any_network(run, write, tmp_path):
    manifest, state = write("m.yaml", MANIFEST), str(tmp_path / "s.json")
    assert run("apply", manifest, "--sandbox", "--yes", "--state", state).exit_code == 0
    # Port 9 (discard) on loopback: nothing listens, so any request would fail differently.
    result = run("state", "import", manifest, "toaster-1", "p-1", "--state", state,
                 "--api-base", "http://127.0.0.1:9", env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 3 and "no video 'toaster-1'" in result.stderr
    result = run("state", "import", manifest, "kettle", "p-1", "--state", state,
                 "--api-base", "http://127.0.0.1:9", env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 4, result.stderr
    assert "was made against" in result.stderr and "sandbox" in result.stderr
    assert "127.0.0.1:9" in result.stderr and "Connection refused" not in result.stderr


def test_state_list_says_when_only_the_sandbox_has_a_state(run, write):
    manifest = write("m.yaml", MANIFEST)
    empty = run("state", "list", manifest)
    assert (empty.exit_code, empty.stdout) == (0, "")
    assert empty.stderr.strip().endswith(": nothing applied yet")
    assert run("apply", manifest, "--sandbox", "--yes").exit_code == 0
    listed = run("state", "list", manifest)
    assert (listed.exit_code, listed.stdout) == (0, "")
    assert listed.stderr.strip().endswith(
        f"; the sandbox's state of this manifest has 2 videos: `jogg-flow state list {manifest} --sandbox` "
        "lists them")


def test_state_mv_and_rm_keep_the_sandbox_media_in_step(run, write, tmp_path):
    manifest = write("m.yaml", MANIFEST)
    assert run("apply", manifest, "--sandbox", "--yes").exit_code == 0
    media = tmp_path / ".jogg-flow" / "sandbox-media"
    assert sorted(os.listdir(media)) == ["blender.cover.png", "blender.mp4", "kettle.cover.png", "kettle.mp4"]
    write("m.yaml", MANIFEST.replace("key: blender", "key: blender-pro"))
    assert run("state", "mv", manifest, "blender", "blender-pro", "--sandbox").exit_code == 0
    assert run("state", "rm", manifest, "kettle", "--sandbox").exit_code == 0
    assert sorted(os.listdir(media)) == ["blender-pro.cover.png", "blender-pro.mp4"]
    gallery = tmp_path / "gallery.html"
    shown = run("outputs", manifest, "--sandbox", "--output", "html", "--out", str(gallery))
    assert shown.exit_code == 0, shown.stderr
    assert "blender-pro.mp4" in gallery.read_text()
