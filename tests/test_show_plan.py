"""Saved plans can be read (issue 23, item 9): `jogg-flow show PLAN.json` prints what `plan`
printed when it saved it, as text or JSON; anything else is one clear line (exit 3)."""

from __future__ import annotations

import json

MANIFEST = """
    version: 1
    api: {version: v1}
    defaults:
      render: {avatar_id: 37, script_style: Discovery}
    products:
      - key: blender
        url: https://shop.example/blender
        details: {title: "PowerBlend"}
      - key: kettle
        url: https://shop.example/kettle
"""


def test_show_prints_what_plan_printed(run, write, tmp_path):
    manifest = write("m.yaml", MANIFEST)
    assert run("apply", manifest, "--sandbox", "--yes").exit_code == 0
    write("m.yaml", MANIFEST.replace('"PowerBlend"', '"PowerBlend 3000"').replace("kettle", "toaster"))
    saved = str(tmp_path / "plan.json")
    plan = run("plan", manifest, "--sandbox", "--out", saved)
    assert plan.exit_code == 0
    assert "~ replace    blender" in plan.stdout and "+ create     toaster" in plan.stdout

    shown = run("show", saved)
    assert (shown.exit_code, shown.stdout) == (0, plan.stdout)  # the same, line for line
    assert 'details.title: "PowerBlend" → "PowerBlend 3000"' in shown.stdout
    assert "Estimate: 2 renders ≈ 2 credits" in shown.stdout

    as_json = run("plan", manifest, "--sandbox", "--output", "json")
    shown_json = run("show", saved, "--output", "json")
    assert shown_json.exit_code == 0
    assert json.loads(shown_json.stdout) == json.loads(as_json.stdout)


def test_show_refuses_what_is_not_a_saved_plan(run, write, tmp_path):
    manifest = write("m.yaml", MANIFEST)
    result = run("show", manifest)
    assert result.exit_code == 3
    assert result.stderr.strip() == f"error: {manifest}: not a plan saved by `jogg-flow plan --out FILE`"

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"jogg_flow_plan": 1, "manifest": "m.yaml", "select": [], "sandbox": True,
                                  "state": {"name": "m", "where": "x", "digest": "d"}, "api": "a",
                                  "inputs": "i", "items": [{"key": "a", "action": "explode"}]}))
    result = run("show", str(broken), "--output", "json")
    assert result.exit_code == 3
    assert result.stderr.strip() == f"error: {broken}: not a complete saved plan; run plan --out again"
    assert json.loads(result.stdout)["exit_code"] == 3
