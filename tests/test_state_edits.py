"""State surgery through the real CLI, on a state file and on PostgreSQL: `state mv`,
`state import`, globs in `state rm`, `--output json` on `state list` / `state show`.
Each is checked by what the next `plan` and `apply` do: nothing is rendered (paid) again."""

from __future__ import annotations

import json

import pytest

from jogg_flow import state as stores
from tests.conftest import FAKE_KEY

MANIFEST = """
version: 1
name: shop
products:
  - key: blender
    url: https://shop.example/blender
    variants: [{name: tiktok}, {name: youtube}]
  - key: kettle
    url: https://shop.example/kettle
"""
RENAMED = MANIFEST.replace("key: kettle", "key: teapot")
FAST = ("--poll-interval", "0.1", "--poll-max", "0.2", "-q")


@pytest.fixture(params=["file", "postgres"])
def where(request, tmp_path):
    """The --state of each store."""
    if request.param == "file":
        return str(tmp_path / "state.json")
    return request.getfixturevalue("pg")


@pytest.fixture
def env(sandbox):
    return {"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": sandbox.url}


def _renders(sandbox) -> int:
    return sum(n for route, n in sandbox.stats()["requests"].items() if route.endswith("/render"))


def test_mv_renames_without_a_new_render_and_refuses_clashes(run, write, sandbox, env, where):
    manifest = write("m.yaml", MANIFEST)
    assert run("apply", manifest, "--state", where, *FAST, env=env).exit_code == 0
    before = run("state", "show", manifest, "kettle", "--state", where, "--output", "json")
    project = json.loads(before.stdout)["project_id"]
    renamed = write("m.yaml", RENAMED)
    moved = run("state", "mv", renamed, "kettle", "teapot", "--state", where)
    assert moved.exit_code == 0 and moved.stdout == "moved kettle to teapot\n"
    record = json.loads(run("state", "show", renamed, "teapot", "--state", where).stdout)
    assert record["project_id"] == project and record["key"] == "teapot"
    assert record["history"][-1]["renamed_from"] == "kettle"
    plan = run("plan", renamed, "--state", where, "--output", "json", env=env)
    assert json.loads(plan.stdout)["counts"] == {"up-to-date": 3}
    renders = _renders(sandbox)
    assert run("apply", renamed, "--state", where, *FAST, env=env).exit_code == 0
    assert _renders(sandbox) == renders  # nothing paid again
    clash = run("state", "mv", renamed, "teapot", "blender/tiktok", "--state", where)
    assert clash.exit_code == 3 and "'blender/tiktok' is already in the state" in clash.stderr
    gone = run("state", "mv", renamed, "kettle", "x", "--state", where)
    assert gone.exit_code == 3 and "no video 'kettle'" in gone.stderr


def test_rm_takes_globs_counts_and_refuses_a_glob_matching_nothing(run, write, sandbox, env, where):
    manifest = write("m.yaml", MANIFEST)
    assert run("apply", manifest, "--state", where, *FAST, env=env).exit_code == 0
    none = run("state", "rm", manifest, "lamp*", "--state", where)
    assert none.exit_code == 3 and "'lamp*' matches no video" in none.stderr
    assert len(json.loads(run("state", "list", manifest, "--state", where, "--output", "json").stdout)) == 3
    forgot = run("state", "rm", manifest, "blender/*", "--state", where)
    assert forgot.exit_code == 0, forgot.output
    assert forgot.stdout == "forgot 2 videos: blender/tiktok, blender/youtube\n"
    listed = json.loads(run("state", "list", manifest, "--state", where, "--output", "json").stdout)
    assert [r["key"] for r in listed] == ["kettle"] and listed[0]["status"] == "succeeded"


def test_import_adopts_a_video_made_elsewhere_after_reading_it(run, write, sandbox, env, where, tmp_path):
    manifest = write("m.yaml", MANIFEST)
    elsewhere = str(tmp_path / "elsewhere.json")  # "made outside": another state, forgotten
    assert run("apply", manifest, "--state", elsewhere, "--select", "kettle", *FAST, env=env).exit_code == 0
    project = stores.load(elsewhere, "shop").videos["kettle"]["project_id"]
    missing = run("state", "import", manifest, "kettle", "no-such-project", "--state", where, env=env)
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    imported = run("state", "import", manifest, "kettle", project, "--state", where, env=env)
    assert imported.exit_code == 0, imported.output
    assert imported.stdout == f"imported kettle: project {project}, succeeded\n"
    record = json.loads(run("state", "show", manifest, "kettle", "--state", where).stdout)
    assert record["outputs"]["video_url"].endswith(".mp4")
    renders = _renders(sandbox)
    result = run("apply", manifest, "--state", where, "--select", "kettle", *FAST, "--output", "json", env=env)
    assert result.exit_code == 0
    assert _renders(sandbox) == renders
    assert '"action": "up-to-date"' in result.stdout
    again = run("state", "import", manifest, "kettle", project, "--state", where, env=env)
    assert again.exit_code == 3 and "already in the state" in again.stderr
    unknown = run("state", "import", manifest, "lamp", project, "--state", where, env=env)
    assert unknown.exit_code == 3 and "no video 'lamp'" in unknown.stderr
