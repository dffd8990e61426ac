"""What to do next (issue 23, item 11): the end of a run names the command that retries,
collects, settles or forgets what it left; a renamed key is spotted in the plan (state mv),
and a manifest may say the rename itself (`moved:`, as Terraform's moved blocks)."""

from __future__ import annotations

import json

from jogg_flow.sandbox import Config, Fault, Sandbox
from jogg_flow.state import State
from tests.conftest import FAKE_KEY

FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2")
RENDER = "POST /v1/create_video_from_url"
KEY = {"JOGG_API_KEY": FAKE_KEY}


def manifest_text(keys, moved=""):
    return ("version: 1\napi: {version: v1}\ndefaults:\n  render: {avatar_id: 37, script_style: Discovery}\n"
            "products:\n" + "".join(f"  - {{key: {k}, url: 'https://shop.example/{k.split('-')[0]}'}}\n" for k in keys)
            + moved)


def sandbox(*faults):
    return Sandbox(Config(time_scale=60.0, render_seconds=6.0, faults=list(faults)))


def test_failed_videos_name_the_command_that_renders_them_again(run, write, tmp_path):
    manifest, state = write("m.yaml", manifest_text(["p0"])), str(tmp_path / "s.json")
    with sandbox(Fault("render_fail", RENDER)) as sb:
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST, env=KEY)
    assert result.exit_code == 1
    assert (f"p0: kept failed; to render it again (a new render that costs credits): "
            f"`jogg-flow apply {manifest} --retry-failed --select p0` (with the same --state and "
            f"--api-base)") in result.stderr


def test_many_failed_videos_are_one_hint(run, write, tmp_path):
    keys = [f"p{i}" for i in range(5)]
    manifest, state = write("m.yaml", manifest_text(keys)), str(tmp_path / "s.json")
    with sandbox(Fault("render_fail", RENDER, 5)) as sb:
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST, env=KEY)
    assert result.exit_code == 1
    hints = [line for line in result.stderr.splitlines() if "--retry-failed" in line]
    assert hints == [f"5 videos kept failed (p0, p1, p2, … 2 more); to render them again (new renders "
                     f"that cost credits): `jogg-flow apply {manifest} --retry-failed` (with the same "
                     f"--state and --api-base)"]


def test_unfinished_and_orphaned_videos_name_apply_and_state_rm(run, write):
    manifest = write("m.yaml", manifest_text(["a", "b"]))
    first = run("apply", manifest, "--sandbox", "--yes", "--no-wait")
    assert first.exit_code == 0
    assert (f"2 videos not finished (a, b): `jogg-flow apply {manifest} --sandbox` collects them "
            "without paying again") in first.stderr
    write("m.yaml", manifest_text(["b"]))
    second = run("apply", manifest, "--sandbox", "--yes")
    assert second.exit_code == 0
    assert (f"1 video in the state but no longer in the manifest (a), left alone: "
            f"`jogg-flow state rm {manifest} a --sandbox` forgets it (nothing is deleted at JoggAI)"
            ) in second.stderr


def test_a_renamed_key_is_spotted_in_the_plan(run, write):
    manifest = write("m.yaml", manifest_text(["blender", "kettle"]))
    assert run("apply", manifest, "--sandbox", "--yes").exit_code == 0
    write("m.yaml", manifest_text(["blender-pro", "kettle"]))
    plan = run("plan", manifest, "--sandbox")
    assert (f"blender → blender-pro: the same inputs, most likely a renamed key: `jogg-flow state mv "
            f"{manifest} blender blender-pro --sandbox` keeps its video (no new render), or say it in "
            "the manifest: `moved: [{from: blender, to: blender-pro}]`") in plan.stdout
    assert "kettle →" not in plan.stdout


def test_moved_in_the_manifest_renames_the_record_without_a_render(run, write, tmp_path):
    manifest, state = write("m.yaml", manifest_text(["blender", "kettle"])), str(tmp_path / "s.json")
    with sandbox() as sb:
        assert run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST, env=KEY).exit_code == 0
        renders = sb.stats()["renders_accepted"]
        write("m.yaml", manifest_text(["blender-pro", "kettle"],
                                      "moved:\n  - {from: blender, to: blender-pro}\n"))
        plan = run("plan", manifest, "--state", state, "--api-base", sb.url)
        assert "= up-to-date blender-pro" in plan.stdout and "orphaned" not in plan.stdout
        assert "moved: blender → blender-pro" in plan.stderr
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST,
                     "--output", "json", env=KEY)
        assert result.exit_code == 0, result.stderr
        assert sb.stats()["renders_accepted"] == renders  # no new render, nothing paid
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert {e["key"]: e["status"] for e in events if e["event"] == "video"} == {
        "blender-pro": "up-to-date", "kettle": "up-to-date"}
    records = State.load(state).videos
    assert sorted(records) == ["blender-pro", "kettle"]
    assert records["blender-pro"]["history"][-1]["renamed_from"] == "blender"
    # Said once, done once: the next plan has nothing to move.
    again = run("plan", manifest, "--state", state, "--api-base", sb.url)
    assert "moved:" not in again.stderr and "Plan: 2 up-to-date." in again.stdout


def test_a_moved_entry_must_name_videos_of_the_manifest(run, write):
    manifest = write("m.yaml", manifest_text(["blender", "kettle"], (
        "moved:\n  - {from: old, to: blendr}\n  - {from: kettle, to: blender}\n")))
    result = run("validate", manifest)
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == [
        f"{manifest}:9:21: moved: 'blendr' is not a video of this manifest (did you mean 'blender'?)",
        f"{manifest}:10:12: moved: 'kettle' is still a video of this manifest; `from` names the key "
        "it had before",
    ]
