"""A plan a person can approve: old → new values, what a replace costs, the estimate's
footer, and the question `apply` asks on a terminal before it spends."""

from __future__ import annotations

import json

from jogg_flow.sandbox import Fault
from tests.conftest import FAKE_KEY

FAST = ("--poll-interval", "0.05", "--poll-max", "0.2")
IMAGES = [f"https://shop.example/img/lamp-{n}-view-large.jpg" for n in ("front", "side", "back")]
MANIFEST = """
version: 1
products:
  - key: lamp
    url: https://shop.example/lamp
    details:
      title: {title}
      intro_medias: [{images}]
    render: {{lang: {lang}}}
  - key: kettle
    url: https://shop.example/kettle
"""


def lamp(write, title="Arc Lamp", lang="english", images=2):
    return write("m.yaml", MANIFEST.format(title=title, lang=lang, images=", ".join(IMAGES[:images])))


def applied(run, manifest, *extra):
    result = run("apply", manifest, "--sandbox", "-q", *FAST, *extra)
    assert result.exit_code == 0, result.stderr
    return result


LONG = "Arc Lamp, now with a dimmer that remembers your evening settings"


def test_plan_text_shows_old_and_new_values_shortened(write, run):
    manifest = lamp(write)
    applied(run, manifest)
    lamp(write, title=LONG, lang="german", images=3)
    out = run("plan", manifest, "--sandbox").stdout
    lines = out.splitlines()
    start = lines.index("~ replace    lamp")
    assert lines[start + 1:start + 5] == [
        "      details.intro_medias: 2 items → 3 items",
        '      details.title: "Arc Lamp" → "Arc Lamp, now with a dimmer that rememb…"',
        '      render.lang: "english" → "german"',
        "      a new render that costs credits; the previous video stays in the state's history"]
    assert "= up-to-date kettle" in lines


def test_plan_json_carries_full_old_and_new_values(write, run):
    manifest = lamp(write)
    applied(run, manifest)
    lamp(write, title=LONG, lang="german", images=3)
    items = {i["key"]: i for i in json.loads(run("plan", manifest, "--sandbox", "--output", "json").stdout)["items"]}
    item = items["lamp"]
    assert item["changes"] == ["details.intro_medias", "details.title", "render.lang"]
    diff = {d["field"]: (d["old"], d["new"]) for d in item["diff"]}
    assert diff["details.title"] == ("Arc Lamp", LONG)
    assert diff["render.lang"] == ("english", "german")
    old, new = diff["details.intro_medias"]
    assert [m["url"] for m in old] == IMAGES[:2] and [m["url"] for m in new] == IMAGES
    assert "diff" not in items["kettle"]


def test_an_added_or_removed_field_shows_none_and_lists_of_one_size_count_what_changed(write, run):
    manifest = lamp(write)
    applied(run, manifest)
    write("m.yaml", MANIFEST.format(title="Arc Lamp", lang="english", images=", ".join(IMAGES[1:]))
          .replace("    render: {lang: english}\n", "    render: {lang: english, aspect_ratio: portrait}\n")
          .replace("      title: Arc Lamp\n", ""))
    out = run("plan", manifest, "--sandbox").stdout
    assert "      details.intro_medias: 2 items → 2 items (2 changed)" in out
    assert '      details.title: "Arc Lamp" → (none)' in out
    assert "      render.aspect_ratio: (none) → " in out


def test_a_retry_says_it_is_a_new_paid_render(write, run, sandbox, tmp_path):
    manifest = write("m.yaml", "version: 1\nproducts:\n  - key: lamp\n    url: https://shop.example/lamp\n")
    state = str(tmp_path / "s.json")
    env = {"JOGG_API_KEY": FAKE_KEY}
    sandbox.add_fault(Fault("render_fail", "POST /open/project/render"))
    result = run("apply", manifest, "--api-base", sandbox.url, "--state", state, "-q", *FAST, env=env)
    assert result.exit_code == 1, result.stderr
    out = run("plan", manifest, "--api-base", sandbox.url, "--state", state, env=env).stdout
    assert "! retry      lamp" in out
    assert "      a new render that costs credits; the failed one stays in the state's history" in out


def test_the_sandbox_footer_uses_the_sandbox_budget(write, run):
    manifest = lamp(write)
    real = run("plan", manifest).stdout
    trial = run("plan", manifest, "--sandbox").stdout
    assert "Estimate: 2 renders ≈ 2 credits" in real and "≈ 1 min at 20/60s." in real
    assert "≈ 1 s at 20/1s (the sandbox's budget" in trial
    estimate = json.loads(run("plan", manifest, "--sandbox", "--output", "json").stdout)["estimate"]
    assert estimate["post_seconds"] == 1.0


def test_plan_output_never_holds_the_api_key(write, run):
    env = {"JOGG_API_KEY": FAKE_KEY}
    sneaky = write("sneaky.yaml", """
        version: 1
        env: [JOGG_API_KEY]
        products:
          - key: lamp
            url: https://shop.example/lamp
            details: {title: "{{ env.JOGG_API_KEY }}"}
        """)
    for output in ("text", "json"):
        result = run("plan", sneaky, "--sandbox", "--output", output, env=env)
        assert result.exit_code == 3
        assert FAKE_KEY not in result.stdout + result.stderr
    manifest = lamp(write)
    applied(run, manifest)
    lamp(write, title="Arc Lamp 2")
    for output in ("text", "json"):
        result = run("plan", manifest, "--sandbox", "--output", output, env=env)
        assert result.exit_code == 0 and "Arc Lamp 2" in result.stdout
        assert FAKE_KEY not in result.stdout + result.stderr
