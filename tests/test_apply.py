"""`apply` against the sandbox on 127.0.0.1: the promises of the design, one test each."""

from __future__ import annotations

import fnmatch
import json
import os
from typing import Any

import pytest

from jogg_flow.sandbox import Config, Fault, Sandbox
from jogg_flow.state import Lock
from tests.conftest import FAKE_KEY, ROOT

MANIFEST = """
version: 1
defaults:
  render: {aspect_ratio: "9:16", lang: english, avatar_id: 37}
products:
  - key: blender
    url: https://www.amazon.com/dp/B000000001
    details: {title: PowerBlend}
    variants:
      - name: tiktok
      - name: wide
        render: {aspect_ratio: "16:9"}
  - key: kettle
    url: https://www.amazon.com/dp/B000000002
  - key: lamp
    url: https://shop.example/lamp
    details: {title: Lamp, target_audience: students}
"""
KEYS = ["blender/tiktok", "blender/wide", "kettle", "lamp"]
ROUTES = {
    "open": {"create": "POST /open/product", "update": "PUT /open/product",
             "render": "POST /open/project/render", "poll": "GET /open/prj_info"},
    "v2": {"create": "POST /v2/product", "update": "PUT /v2/product",
           "render": "POST /v2/create_video_from_product", "poll": "GET /v2/product_video/*"},
}


class Api:
    """One API generation: the test manifest for it and its routes."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.manifest = MANIFEST if version == "open" else MANIFEST.replace(
            "version: 1\n", "version: 1\napi: {version: v2}\n", 1)
        self.routes = ROUTES[version]
        # v2 products carry several videos: blender's two variants share one product.
        self.products = 4 if version == "open" else 3

    def requests(self, stats: dict[str, Any], step: str) -> int:
        return sum(n for route, n in stats["requests"].items() if fnmatch.fnmatchcase(route, self.routes[step]))

    def forget_product(self, sandbox: Sandbox, product_id) -> None:
        store = sandbox.backend.products if self.version == "open" else sandbox.backend.v2_products
        store.pop(product_id)


@pytest.fixture(params=["open", "v2"])
def api(request):
    """The apply/resume suite runs against both JoggAI API generations."""
    return Api(request.param)


def one_render_each(stats: dict[str, Any]) -> None:
    """No project was rendered twice (a v2 product shared by variants renders once each)."""
    assert stats["renders_per_product"] and set(stats["renders_per_project"].values()) == {1}
    assert sum(stats["renders_per_product"].values()) == stats["renders_accepted"]


@pytest.fixture
def env(sandbox):
    # plan and outputs must target the API the state was made against (--api-base or this)
    return {"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": sandbox.url}


@pytest.fixture
def apply(run, sandbox, env, tmp_path):
    """apply(manifest, *extra) -> (result, events) against the test sandbox."""
    def _apply(manifest: str, *extra: str, sb: Sandbox | None = None):
        sb = sb or sandbox
        result = run("apply", manifest, "--api-base", sb.url, "--post-rate", "20/1s",
                     "--poll-interval", "0.05", "--poll-max", "0.3", "--output", "json",
                     "--state", str(tmp_path / "state.json"), *extra, env=env)
        events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        return result, events
    return _apply


def outcomes(events):
    return {e["key"]: e["status"] for e in events if e["event"] == "video"}


def summary(events):
    (s,) = [e for e in events if e["event"] == "summary"]
    return s


def test_apply_makes_every_video_once_and_a_second_apply_makes_no_calls(api, apply, write, sandbox, tmp_path):
    manifest = write("m.yaml", api.manifest)
    result, events = apply(manifest)
    assert result.exit_code == 0, result.output + result.stderr
    assert outcomes(events) == dict.fromkeys(KEYS, "succeeded")
    stats = sandbox.stats()
    assert stats["products_created"] == api.products and stats["renders_accepted"] == 4
    one_render_each(stats)
    assert stats["products_updated"] == api.products - 1  # only products with details
    assert stats["rate_limited"] == 0

    before = sandbox.stats()["requests"]
    again, events = apply(manifest)
    assert again.exit_code == 0
    assert sandbox.stats()["requests"] == before
    assert summary(events)["requests"] == 0
    assert outcomes(events) == dict.fromkeys(KEYS, "up-to-date")


def test_state_holds_outputs_and_no_secret(api, apply, write, tmp_path):
    manifest = write("m.yaml", api.manifest)
    apply(manifest)
    text = (tmp_path / "state.json").read_text()
    state = json.loads(text)
    assert state["format_version"] == 1 and state["serial"] >= 1 and state["lineage"]
    record = state["videos"]["lamp"]
    assert record["status"] == "succeeded" and record["outputs"]["video_url"].endswith(".mp4")
    assert record["steps"] == {"create": "done", "update": "done", "render": "done"}
    assert FAKE_KEY not in text


def test_a_changed_setting_replaces_only_that_video(api, apply, write, sandbox, run, env, tmp_path):
    manifest = write("m.yaml", api.manifest)
    apply(manifest)
    old = json.loads((tmp_path / "state.json").read_text())["videos"]["kettle"]
    write("m.yaml", api.manifest.replace("shop.example/lamp", "shop.example/lamp-v2")
          .replace("title: PowerBlend", "title: PowerBlend X"))
    plan = run("plan", manifest, "--state", str(tmp_path / "state.json"), "--output", "json", env=env)
    items = {i["key"]: i for i in json.loads(plan.stdout)["items"]}
    assert {k: v for k, v in items["lamp"].items() if k != "diff"} == {"key": "lamp", "action": "replace",
                                                                     "changes": ["url"]}
    assert items["blender/tiktok"]["changes"] == ["details.title"]
    assert items["kettle"]["action"] == "up-to-date"

    result, events = apply(manifest)
    assert result.exit_code == 0
    assert outcomes(events) == {"blender/tiktok": "succeeded", "blender/wide": "succeeded",
                                "kettle": "up-to-date", "lamp": "succeeded"}
    state = json.loads((tmp_path / "state.json").read_text())["videos"]
    assert state["kettle"]["project_id"] == old["project_id"]
    assert state["lamp"]["history"][0]["outputs"]["video_url"].endswith(".mp4")
    assert state["lamp"]["history"][0]["reason"] == "replace"
    one_render_each(sandbox.stats())


def test_removed_video_is_orphaned_and_left_alone(api, apply, write, sandbox):
    manifest = write("m.yaml", api.manifest)
    apply(manifest)
    write("m.yaml", api.manifest.split("  - key: lamp")[0])
    before = sandbox.stats()["requests"]
    result, events = apply(manifest)
    assert result.exit_code == 0
    assert outcomes(events)["lamp"] == "orphaned"
    assert sandbox.stats()["requests"] == before


def test_remote_failure_fails_the_run_then_retries_with_a_fresh_project(api, apply, write, sandbox, run, env, tmp_path):
    sandbox.add_fault(Fault("render_fail", api.routes["render"]))
    manifest = write("m.yaml", api.manifest)
    result, events = apply(manifest, "--select", "kettle")
    assert result.exit_code == 1
    assert outcomes(events) == {"kettle": "failed"}
    plan = run("plan", manifest, "--state", str(tmp_path / "state.json"), "--retry-failed", env=env)
    assert "retry      kettle" in plan.output

    result, events = apply(manifest, "--select", "kettle", "--retry-failed")
    assert result.exit_code == 0 and outcomes(events) == {"kettle": "succeeded"}
    record = json.loads((tmp_path / "state.json").read_text())["videos"]["kettle"]
    assert record["history"][0]["status"] == "failed" and record["history"][0]["reason"] == "retry"
    one_render_each(sandbox.stats())
    assert sandbox.stats()["renders_accepted"] == 2


@pytest.mark.parametrize("kind", ["drop_after_commit", "slow", "malformed"])
def test_render_with_lost_answer_is_adopted_not_resubmitted(api, kind, write, run, env, tmp_path):
    config = Config(time_scale=60.0, render_seconds=30.0, slow_seconds=1.5, faults=[Fault(kind, api.routes["render"])])
    with Sandbox(config) as sb:
        manifest = write("m.yaml", api.manifest)
        result = run("apply", manifest, "--api-base", sb.url, "--post-rate", "20/1s",
                     "--poll-interval", "0.05", "--poll-max", "0.3", "--state",
                     str(tmp_path / "s.json"), "--select", "kettle", env=env)
        assert result.exit_code == 0, result.output
        stats = sb.stats()
    one_render_each(stats)
    assert stats["faults"] == {kind: 1}


def test_lost_create_answer_is_retried_and_the_orphan_noted(api, apply, write, sandbox, tmp_path):
    sandbox.add_fault(Fault("drop_after_commit", api.routes["create"]))
    manifest = write("m.yaml", api.manifest)
    result, events = apply(manifest, "--select", "kettle")
    assert result.exit_code == 0
    assert sandbox.stats()["products_created"] == 2
    record = json.loads((tmp_path / "state.json").read_text())["videos"]["kettle"]
    assert record["orphans"][0]["url"] == "https://www.amazon.com/dp/B000000002"
    assert any(e["event"] == "orphan" for e in events)


def test_a_storm_of_429s_is_ridden_out(api, apply, write, sandbox):
    sandbox.add_fault(Fault("rate_429", "POST *", times=6))
    manifest = write("m.yaml", api.manifest)
    result, events = apply(manifest)
    assert result.exit_code == 0
    assert set(outcomes(events).values()) == {"succeeded"}
    one_render_each(sandbox.stats())


def test_timeout_leaves_renders_for_a_later_apply(api, apply, write, run, env, tmp_path):
    with Sandbox(Config(time_scale=1.0, render_seconds=3.0)) as slow:
        manifest = write("m.yaml", api.manifest)
        result, events = apply(manifest, "--select", "kettle", "--timeout", "0.2", sb=slow)
        assert result.exit_code == 1
        assert outcomes(events) == {"kettle": "rendering"}
        plan = run("plan", manifest, "--state", str(tmp_path / "state.json"), "--select", "kettle",
                   env={**env, "JOGG_API_BASE": slow.url})
        assert "wait       kettle" in plan.output
        result, events = apply(manifest, "--select", "kettle", sb=slow)
        assert result.exit_code == 0 and outcomes(events) == {"kettle": "succeeded"}
        assert slow.stats()["renders_accepted"] == 1


def test_no_wait_submits_and_a_later_apply_collects(api, apply, write, sandbox):
    manifest = write("m.yaml", api.manifest)
    result, events = apply(manifest, "--no-wait")
    assert result.exit_code == 0
    assert set(outcomes(events).values()) == {"rendering"}
    assert api.requests(sandbox.stats(), "poll") == 0
    polls = api.requests(sandbox.stats(), "poll")
    result, events = apply(manifest, "--no-wait")  # reads each render once, waits for none
    assert result.exit_code == 0 and set(outcomes(events).values()) <= {"rendering", "succeeded"}
    assert api.requests(sandbox.stats(), "poll") == polls + 4
    result, events = apply(manifest)
    assert result.exit_code == 0 and set(outcomes(events).values()) == {"succeeded"}
    assert sandbox.stats()["renders_accepted"] == 4


def test_one_failing_video_does_not_stop_the_others(api, apply, write, sandbox):
    if api.version == "open":
        bad = api.manifest.replace("lang: english", "lang: english, script_style: Nonsense")
        manifest = write("m.yaml", bad.replace("  - key: lamp", "  - key: lamp\n    render: {script_style: Data}"))
        result, events = apply(manifest)
    else:  # v2 refuses an unknown style at validate: let JoggAI refuse kettle's render (the third)
        sandbox.add_fault(Fault("code_40000", "POST /v2/create_video_from_product", skip=2))
        result, events = apply(write("m.yaml", api.manifest), "--parallelism", "1")
    assert result.exit_code == 1
    got = outcomes(events)
    assert got["lamp"] == "succeeded"
    assert got["kettle"] == "error"
    assert "40000" in [e for e in events if e.get("key") == "kettle" and e["event"] == "video"][0]["message"]


def test_bad_key_stops_the_run_with_joggai_code_and_no_key_in_output(api, write, run, tmp_path):
    with Sandbox(Config(api_keys=frozenset({"the-right-key"}))) as sb:
        manifest = write("m.yaml", api.manifest)
        result = run("apply", manifest, "--api-base", sb.url, "--state", str(tmp_path / "s.json"),
                     "-v", env={"JOGG_API_KEY": FAKE_KEY})
        assert result.exit_code == 1
        assert "10105" in result.stderr + result.output
        assert FAKE_KEY not in result.stderr + result.output
        state = tmp_path / "s.json"
        assert not state.exists() or FAKE_KEY not in state.read_text()
        # The preflight's free read found out: no POST was sent.
        assert not any(route.startswith("POST") for route in sb.stats()["requests"])


def test_no_credit_stops_the_run(api, apply, write, tmp_path):
    with Sandbox(Config(time_scale=60.0, credits=1)) as sb:
        result, events = apply(write("m.yaml", api.manifest), "--parallelism", "1", sb=sb)
        assert result.exit_code == 1
        assert "18020" in result.stderr
        if api.version == "v2":
            # v2 reports the credit left: the preflight stops before the first POST.
            assert "1 credit left, this plan needs about" in result.stderr
            assert sb.stats()["renders_accepted"] == 0
            assert not any(route.startswith("POST") for route in sb.stats()["requests"])
        else:  # the open API does not: its first render is paid, the second refused
            assert sb.stats()["renders_accepted"] == 1


def test_missing_key_is_a_usage_error(write, run, tmp_path):
    result = run("apply", write("m.yaml", MANIFEST), "--state", str(tmp_path / "s.json"), env={})
    assert result.exit_code == 3
    assert "JOGG_API_KEY is not set" in result.stderr


def test_concurrent_apply_is_refused_naming_the_holder(write, run, env, tmp_path):
    state = str(tmp_path / "state.json")
    with Lock(state).held():
        result = run("apply", write("m.yaml", MANIFEST), "--state", state, env=env)
    assert result.exit_code == 4
    assert f"pid {os.getpid()}" in result.stderr


def test_a_lock_left_by_a_dead_process_is_taken_over(api, apply, write, tmp_path):
    (tmp_path / "state.json.lock").write_text(json.dumps({"pid": 999999, "host": "gone",
                                                          "started": "2026-01-01T00:00:00"}))
    result, events = apply(write("m.yaml", api.manifest), "--select", "kettle")
    assert result.exit_code == 0
    assert any(e["event"] == "warning" and "999999" in e["message"] for e in events)


def test_state_from_a_newer_version_is_refused_and_untouched(write, run, env, tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"format_version": 99, "videos": {}}))
    before = state.read_bytes()
    for cmd in ("plan", "apply"):
        result = run(cmd, write("m.yaml", MANIFEST), "--state", str(state), env=env)
        assert result.exit_code == 4 and "newer" in result.stderr
    assert state.read_bytes() == before


def test_corrupt_state_is_refused_and_untouched(write, run, env, tmp_path):
    state = tmp_path / "state.json"
    state.write_text('{"format_version": 1, "vid')
    result = run("apply", write("m.yaml", MANIFEST), "--state", str(state), env=env)
    assert result.exit_code == 4 and "unreadable" in result.stderr
    assert state.read_text() == '{"format_version": 1, "vid'


def test_outputs_formats(api, apply, write, run, env, tmp_path):
    manifest = write("m.yaml", api.manifest)
    apply(manifest)
    args = ("outputs", manifest, "--state", str(tmp_path / "state.json"))
    rows = json.loads(run(*args, "--format", "json", env=env).output)
    assert [r["key"] for r in rows] == KEYS and all(r["status"] == "succeeded" for r in rows)
    csv = run(*args, "--format", "csv", env=env).output.splitlines()
    assert csv[0] == "key,project_id,status,video_url,cover_url,duration,credits" and len(csv) == 5
    table = run(*args, env=env).output.splitlines()
    assert table[0].split() == ["KEY", "PROJECT_ID", "STATUS", "VIDEO_URL", "COVER_URL", "DURATION", "CREDITS"]


def test_apply_sandbox_runs_the_example_end_to_end(run, tmp_path):
    state = str(tmp_path / "s.json")
    manifest = str(ROOT / "manifests" / "spring-launch.yaml")
    result = run("apply", manifest, "--sandbox", "--state", state, "--output", "json", env={})
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert set(outcomes(events).values()) == {"succeeded"}
    again = run("apply", manifest, "--sandbox", "--state", state, "--output", "json", env={})
    assert summary([json.loads(line) for line in again.stdout.splitlines()])["requests"] == 0


def test_a_product_gone_at_joggai_is_retried_with_a_fresh_one(api, apply, write, sandbox, tmp_path):
    manifest = write("m.yaml", api.manifest)
    sandbox.add_fault(Fault("code_40000", api.routes["update"]))
    result, events = apply(manifest, "--select", "lamp")
    assert result.exit_code == 1 and outcomes(events) == {"lamp": "error"}
    record = json.loads((tmp_path / "state.json").read_text())["videos"]["lamp"]
    api.forget_product(sandbox, record["product_id"])  # JoggAI lost it meanwhile
    result, events = apply(manifest, "--select", "lamp")
    # Nothing was rendered or charged: an error, not a failed render kept for --retry-failed.
    assert result.exit_code == 1 and outcomes(events) == {"lamp": "error"}
    plan_item = [e for e in events if e["event"] == "plan"][0]
    assert plan_item["action"] == "resume"
    record = json.loads((tmp_path / "state.json").read_text())["videos"]["lamp"]
    assert record["steps"] == {} and record["product_id"] is None
    result, events = apply(manifest, "--select", "lamp")
    assert result.exit_code == 0 and outcomes(events) == {"lamp": "succeeded"}
    one_render_each(sandbox.stats())


def test_the_5_second_polling_floor_applies_to_joggai_hosts_only():
    from jogg_flow.app.online import _is_joggai

    assert _is_joggai("https://api-services.jogg.ai") and _is_joggai("https://api.jogg.ai/v2")
    assert not _is_joggai("http://127.0.0.1:8765") and not _is_joggai("https://notjogg.ai")
