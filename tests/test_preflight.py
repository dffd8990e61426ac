"""The free preflight before a run's first POST, the plan's estimate, and variants sharing
one product where the API allows it (POSTs per video measured against the sandbox)."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import pytest

from jogg_flow.api import PostBudget
from jogg_flow.app.online import ApplySettings, make_client
from jogg_flow.engine.events import fields
from jogg_flow.sandbox import Config, Sandbox
from jogg_flow.state import State
from tests.conftest import FAKE_KEY
from tests.scripted import Scripted, envelope

FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2", "--output", "json")


def variants(version: str, k: int = 3) -> str:
    return (f"version: 1\napi: {{version: {version}}}\ndefaults: {{render: {{avatar_id: 37}}}}\n"
            "products:\n  - key: mug\n    url: https://shop.example/mug\n    details: {title: Mug}\n"
            "    variants:\n" + "".join(f"      - name: v{i}\n        render: {{lang: english}}\n"
                                       for i in range(k)))


class V2Account:
    """whoami and remaining_quota, and a POST log; the rest as the sandbox would."""

    def __init__(self, credits: float) -> None:
        self.credits, self.ids = credits, itertools.count()

    def __call__(self, r):
        if r.path == "/v2/user/whoami":
            return envelope({"email": "ops@shop.example", "username": "ops"})
        if r.path == "/v2/user/remaining_quota":
            return envelope({"remaining_quota": self.credits})
        if r.path == "/v2/product":
            return envelope({"product_id": "prod1"})
        if r.path == "/v2/create_video_from_product":
            return envelope({"video_id": f"vid{next(self.ids)}", "status": "processing"})
        return envelope({"id": "vid", "status": "completed", "video_url": "https://res.example/v.mp4"})


def _apply(run, manifest, url, state, *extra):
    result = run("apply", manifest, "--api-base", url, "--state", state, *FAST, *extra,
                 env={"JOGG_API_KEY": FAKE_KEY})
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_too_little_credit_stops_before_spending_unless_allow_partial(run, write, tmp_path):
    manifest = write("m.yaml", variants("v2", 3))
    with Scripted(V2Account(credits=2)) as api:
        result, _ = _apply(run, manifest, api.url, str(tmp_path / "s.json"))
        assert result.exit_code == 1 and api.posts() == []
        assert "2 credits left, this plan needs about 3" in result.stderr
        assert "--allow-partial" in result.stderr
        result, events = _apply(run, manifest, api.url, str(tmp_path / "s.json"), "--allow-partial")
        assert api.posts(), result.stderr
        (pre,) = [e for e in events if e["event"] == "preflight"]
        assert pre["account"] == "ops@shop.example" and pre["credits"] == 2
        assert (pre["renders"], pre["credits_needed"], pre["posts"]) == (3, 3, 4)


def test_the_preflight_account_is_given_to_the_runner(write, tmp_path):
    from jogg_flow.app.online import apply
    from jogg_flow.app.scope import Scope

    with Scripted(V2Account(credits=100)) as api:
        applied = apply(Scope(write("m.yaml", variants("v2", 1)), state=str(tmp_path / "s.json"),
                              api_base=api.url, environ={"JOGG_API_KEY": FAKE_KEY}),
                        ApplySettings(post_rate=(20, 1.0), poll_interval=0.05, poll_max=0.2))
        assert applied.preflight is not None
        assert (applied.preflight.account, applied.preflight.credits) == ("ops@shop.example", 100)


def test_a_base_url_that_is_not_joggai_warns():
    events: list[dict[str, Any]] = []
    cfg = ApplySettings(allow_http=True)
    make_client("v2", "https://proxy.example", FAKE_KEY, cfg, (20, 60.0), threading.Event(),
                lambda e: events.append(fields(e))).close()
    make_client("v2", "https://api.jogg.ai", FAKE_KEY, cfg, (20, 60.0), threading.Event(),
                lambda e: events.append(fields(e))).close()
    assert [e["message"] for e in events] == [
        "the API key goes to proxy.example, not JoggAI's documented host for api.version v2 (api.jogg.ai)"]


@pytest.mark.parametrize(("version", "posts"), [("open", 6), ("v2", 4)])
def test_variants_share_one_product_where_the_api_allows(run, write, tmp_path, version, posts):
    """K variants cost K + 1 POSTs instead of 2K (v2); open keeps one product per video."""
    manifest, state = write("m.yaml", variants(version, 3)), str(tmp_path / "s.json")
    plan = run("plan", manifest, "--state", state)
    assert f"Estimate: 3 renders ≈ 3 credits (1 per video up to 2 minutes); {posts} POSTs" in plan.stdout
    with Sandbox(Config(time_scale=60.0, render_seconds=6.0)) as sb:
        result, _ = _apply(run, manifest, sb.url, state)
        assert result.exit_code == 0, result.stderr
        stats = sb.stats()
        sent = sum(n for route, n in stats["requests"].items() if route.startswith("POST"))
        assert sent == posts
        assert stats["products_created"] == (1 if version == "v2" else 3)
        assert stats["products_updated"] == stats["products_created"]
        assert set(stats["renders_per_project"].values()) == {1}
        records = State.load(state).videos
        assert len({r["product_id"] for r in records.values()}) == stats["products_created"]

        # A render-only change keeps the product (v2); a URL change makes a fresh one.
        (tmp_path / "m.yaml").write_text(variants(version, 3).replace("lang: english", "lang: german"))
        assert _apply(run, manifest, sb.url, state)[0].exit_code == 0
        assert sb.stats()["products_created"] == (1 if version == "v2" else 6)
        (tmp_path / "m.yaml").write_text(variants(version, 3).replace("/mug", "/mug2"))
        assert _apply(run, manifest, sb.url, state)[0].exit_code == 0
        assert sb.stats()["products_created"] == (2 if version == "v2" else 9)


def test_plan_json_carries_the_estimate(run, write, tmp_path):
    result = run("plan", write("m.yaml", variants("v2", 2)), "--state", str(tmp_path / "s.json"),
                 "--output", "json")
    assert json.loads(result.stdout)["estimate"] == {"renders": 2, "credits": 2, "posts": 3,
                                                    "post_seconds": 60.0, "from_previews": 0, "uploads": 0}


def test_budget_interface_kept_for_other_stores():
    budget = PostBudget(2, 1.0)
    with budget.slot() as slot:
        slot.sent = False
    budget.pause(0.0)
    assert (budget.limit, budget.window) == (2, 1.0)


def test_plan_check_makes_the_free_reads(run, write, tmp_path):
    manifest = write("m.yaml", variants("v2", 3))
    with Scripted(V2Account(credits=2)) as api:
        env = {"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": api.url}
        result = run("plan", manifest, "--state", str(tmp_path / "s.json"), "--check", env=env)
        assert result.exit_code == 1 and "account ops@shop.example" in result.stderr
        assert "2 credits left, this plan needs about 3" in result.stderr
        assert api.posts() == [] and {r.path for r in api.log} == {"/v2/user/whoami",
                                                                    "/v2/user/remaining_quota"}
    assert run("plan", manifest, "--state", str(tmp_path / "s.json"), "--check", "--sandbox").exit_code == 0


def test_plan_check_in_json_is_one_document(run, write, tmp_path):
    """The free reads come before the plan is printed: with too little credit the plan's JSON
    says so under `check`; a check that fails leaves only the error object on stdout."""
    manifest = write("m.yaml", variants("v2", 3))
    with Scripted(V2Account(credits=2)) as api:
        env = {"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": api.url}
        result = run("plan", manifest, "--state", str(tmp_path / "s.json"), "--check",
                     "--output", "json", env=env)
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["check"] == {"account": "ops@shop.example", "credits": 2, "enough": False, "adoptable": []}
    assert doc["estimate"]["credits"] == 3
    env = {"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": "http://127.0.0.1:9"}  # nothing listens
    failed = run("plan", manifest, "--state", str(tmp_path / "s.json"), "--check", "--output", "json",
                 env=env)
    assert failed.exit_code == 1
    lines = failed.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["ok"] is False
