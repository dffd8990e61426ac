"""Previews (v2): `jogg-flow preview` previews several visual styles of each video in one
POST, a second run sends nothing, and `apply` renders the chosen style from its preview."""

from __future__ import annotations

import itertools
import json
import os
import threading
from typing import Any

import jsonschema
import pytest

from bench.previews import crash, preview_duplicates
from jogg_flow.sandbox import Config, Fault, Sandbox
from jogg_flow.state import State
from tests.conftest import FAKE_KEY, ROOT
from tests.scripted import Reply, Request, Scripted, envelope

EVENTS = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "events.schema.json").read_text()))
FAST = ("--poll-interval", "0.02", "--poll-max", "0.05", "--post-rate", "20/1s", "--yes")
ENV = {"JOGG_API_KEY": FAKE_KEY}
PREVIEW_LIST = "/v2/create_video_from_product/preview_list"
SINGLE = "/v2/create_video_from_product/render_single_preview"
FRESH = "/v2/create_video_from_product"


def manifest(write: Any, chosen: dict[str, str] | None = None, styles: str = "[A, B, C]",
             lang: str = "english") -> str:
    """Two products previewing `styles`; `chosen[key]`: its visual_style."""
    chosen = chosen or {}
    text = ("version: 1\nname: shop\napi: {version: v2}\n"
            f"defaults: {{render: {{avatar_id: 37, video_length: 15, lang: {lang}, preview_styles: {styles}}}}}\n"
            "products:\n")
    for key in ("mug", "lamp"):
        text += f"  - key: {key}\n    url: https://shop.example/{key}\n"
        if key in chosen:
            text += f"    render: {{visual_style: {chosen[key]}}}\n"
    path: str = write("shop.yaml", text)
    return path


class StandIn:
    """An independent v2 stand-in written from JoggAI's v2 spec alone: products, preview
    lists (the list items carry no style, as the spec's list shape), renders from a
    preview, product videos with deducted_credit; it keeps what arrived."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.previews: dict[str, str] = {}  # preview id -> the request's video name
        self.lock = threading.Lock()

    def __call__(self, req: Request) -> Reply:
        with self.lock:
            return self._answer(req)

    def _answer(self, req: Request) -> Reply:
        route = f"{req.method} {req.path}"
        if req.headers.get("x-api-key") != FAKE_KEY:
            return envelope(None, code=10105, msg="Invalid API key")
        fixed = {"GET /v2/user/whoami": {"email": "shop@example.com"},
                 "GET /v2/user/remaining_quota": {"remaining_quota": 100}}
        if route in fixed:
            return envelope(fixed[route])
        if route == "POST /v2/product":
            return envelope({"product_id": f"prod-{next(self.ids)}", "url": req.body["url"]})
        if route == "PUT /v2/product":
            return envelope(None)
        if route == f"POST {PREVIEW_LIST}":
            answers = []
            for style in req.body["visual_styles"]:
                pid = f"pv-{next(self.ids)}"
                self.previews[pid] = req.body["video_spec"]["name"]
                answers.append({"visual_style": style, "preview_id": pid, "err_msg": ""})
            return envelope({"previews": answers})
        if route == "GET /v2/product_previews":
            items = [{"id": pid, "title": title, "video_duration": 5.0, "status": "completed",
                      "video_url": f"https://cdn.example/{pid}.mp4", "cover_url": f"https://cdn.example/{pid}.jpg",
                      "created_at": 1700000000, "deducted_credit": 0.5}
                     for pid, title in reversed(self.previews.items())]
            return envelope({"previews": items, "total": len(items), "page": 1, "page_size": 100})
        if route == f"POST {SINGLE}":
            if req.body.get("preview_id") not in self.previews:
                return envelope(None, code=10104, msg="Record not found")
            return envelope({"video_id": f"vid-{req.body['preview_id']}", "status": "processing"})
        if route == f"POST {FRESH}":
            return envelope({"video_id": f"vid-fresh-{next(self.ids)}", "status": "processing"})
        if req.method == "GET" and req.path.startswith("/v2/product_video/"):
            vid = req.path.rsplit("/", 1)[1]
            return envelope({"id": vid, "title": "t", "status": "completed", "created_at": 1700000000,
                             "video_url": f"https://cdn.example/{vid}.mp4",
                             "cover_url": f"https://cdn.example/{vid}.jpg", "deducted_credit": 1.0})
        return envelope(None, code=10104, msg="Not Found", status=404)


def test_bar_preview_once_then_render_the_chosen_style_from_its_preview(tmp_path, write, run):
    state = str(tmp_path / "state.json")
    standin = StandIn()
    with Scripted(standin) as api:
        common = ("--api-base", api.url, "--state", state, *FAST)
        first = run("preview", manifest(write), *common, env=ENV)
        assert first.exit_code == 0, first.stderr + first.stdout
        lists = api.posts(PREVIEW_LIST)
        assert len(lists) == 2  # one POST per video, every style in it
        for req in lists:
            assert req.body["visual_styles"] == ["A", "B", "C"]
            assert "visual_style" not in req.body  # not a field of preview_list
            assert req.body["avatar"] == {"id": 37, "type": 0} and req.body["video_spec"]["length"] == "15"
        posts = len(api.posts())

        again = run("preview", manifest(write), *common, env=ENV)
        assert again.exit_code == 0, again.stderr
        assert len(api.posts()) == posts  # an unchanged manifest sends nothing

        planned = run("plan", manifest(write, {"mug": "B"}), "--state", state, "--api-base", api.url)
        assert "render from preview 'B'" in planned.stdout

        applied = run("apply", manifest(write, {"mug": "B"}), *common, env=ENV)
        assert applied.exit_code == 0, applied.stderr + applied.stdout
        b_of_mug = _styles_of(state, "mug")["B"]
        assert standin.previews[b_of_mug].startswith("mug [jf-")
        singles = api.posts(SINGLE)
        assert [r.body for r in singles] == [{"preview_id": b_of_mug}]  # mug: from its preview of B
        fresh = api.posts(FRESH)  # lamp chose no style: a render of its own
        assert [r.body["product_id"] for r in fresh] == [State.load(state).videos["lamp"]["product_id"]]
        assert len(api.posts("/v2/product")) == 2  # the previews' products were used, none made again
        assert all("x-api-key" in r.headers for r in api.posts())

        shown = run("outputs", manifest(write, {"mug": "B"}), "--state", state, "--api-base", api.url,
                    "--output", "json")
    rows = {r["key"]: r for r in json.loads(shown.stdout)}
    assert rows["mug"]["credits"] == 1.0 and rows["mug"]["from_preview"] == "B"
    assert {p["style"]: p["credits"] for p in rows["mug"]["previews"]} == {"A": 0.5, "B": 0.5, "C": 0.5}
    assert rows["lamp"]["credits"] == 1.0


def _styles_of(state: str, key: str) -> dict[str, str]:
    record = State.load(state).videos[key]
    return {s: e["preview_id"] for s, e in record["previews"]["styles"].items()}


@pytest.fixture
def sb():
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0, credits=100)) as sandbox:
        yield sandbox


def _sandbox_manifest(write: Any, chosen: dict[str, str] | None = None,
                      styles: str = "[Simple Product Switch, Dynamic Showcase]", lang: str = "english") -> str:
    return manifest(write, chosen, styles, lang)


def test_sandbox_previews_then_render_and_the_gallery_strip(tmp_path, write, run, sb):
    state = str(tmp_path / "state.json")
    common = ("--api-base", sb.url, "--state", state, *FAST)
    events = run("preview", _sandbox_manifest(write), *common, "--output", "json", env=ENV)
    assert events.exit_code == 0, events.stderr + events.stdout
    for line in events.stdout.splitlines():
        EVENTS.validate(json.loads(line))  # the events' contract holds for preview too
    assert sb.stats()["previews_made"] == 4
    done = run("preview", _sandbox_manifest(write), *common, env=ENV)
    assert done.exit_code == 0, done.stderr + done.stdout
    assert "mug" in done.stdout and "Dynamic Showcase" in done.stdout and "succeeded" in done.stdout
    stats = sb.stats()
    assert stats["previews_made"] == 4 and stats["renders_accepted"] == 0
    assert stats["credits_left"] == 98.0  # 0.5 a preview

    applied = run("apply", _sandbox_manifest(write, {"mug": "Dynamic Showcase", "lamp": "Simple Product Switch"}),
                  *common, env=ENV)
    assert applied.exit_code == 0, applied.stderr + applied.stdout
    stats = sb.stats()
    assert stats["renders_from_previews"] == 2 and stats["renders_accepted"] == 2
    assert stats["requests"].get(f"POST {FRESH}", 0) == 0

    page = run("outputs", _sandbox_manifest(write, {"mug": "Dynamic Showcase", "lamp": "Simple Product Switch"}),
               "--state", state, "--api-base", sb.url, "--output", "html")
    assert page.stdout.count('class="previews"') == 2
    assert 'class="preview chosen" data-style="Dynamic Showcase"' in page.stdout
    assert page.stdout.count("<video") == 2 + 4  # each video, and a player per preview


def test_changed_inputs_preview_again_and_an_added_style_alone(tmp_path, write, run, sb):
    state = str(tmp_path / "state.json")
    common = ("--api-base", sb.url, "--state", state, *FAST)
    assert run("preview", _sandbox_manifest(write, styles="[Dynamic Showcase]"), *common, env=ENV).exit_code == 0
    assert sb.stats()["previews_made"] == 2

    added = run("preview", _sandbox_manifest(write, styles="[Dynamic Showcase, Simple Product Switch]"),
                *common, env=ENV)
    assert added.exit_code == 0, added.stderr
    by_title = sb.stats()["previews_by_title"]
    assert sorted(len(v) for v in by_title.values()) == [1, 1, 1, 1]  # only the new style was sent
    assert preview_duplicates(sb.stats()) == 0

    # Another language is another preview: every style again; the old ones stay in history.
    spanish = _sandbox_manifest(write, styles="[Dynamic Showcase, Simple Product Switch]", lang="spanish")
    assert run("preview", spanish, *common, env=ENV).exit_code == 0
    assert sb.stats()["previews_made"] == 8
    # The render follows the manifest's inputs: an English preview is never rendered for Spanish.
    english_chosen = _sandbox_manifest(write, {"mug": "Dynamic Showcase"}, lang="english")
    assert "render from preview" not in run("plan", english_chosen, "--state", state, "--api-base", sb.url).stdout


def test_a_lost_preview_answer_is_found_by_name_never_sent_twice(tmp_path, write, run):
    state = str(tmp_path / "state.json")
    config = Config(time_scale=60.0, render_seconds=30.0,
                    faults=[Fault("drop_after_commit", f"POST {PREVIEW_LIST}", times=2)])
    with Sandbox(config) as sb:
        common = ("--api-base", sb.url, "--state", state, *FAST, "--request-timeout", "2")
        done = run("preview", _sandbox_manifest(write), *common, env=ENV)
        assert done.exit_code == 0, done.stderr + done.stdout
        stats = sb.stats()
        assert stats["faults"]["drop_after_commit"] == 2
        assert stats["previews_made"] == 4 and preview_duplicates(stats) == 0
        for key in ("mug", "lamp"):
            assert all(e["status"] == "succeeded" for e in State.load(state).videos[key]["previews"]["styles"].values())


def test_a_lost_answer_without_styles_in_the_list_is_needs_check_until_asked(tmp_path, write, run):
    """The spec's list items name no style: several previews found for one lost request are
    not guessed at; the video is needs-check, nothing is sent again until --retry-failed."""
    state = str(tmp_path / "state.json")
    standin = StandIn()
    dropped: list[Request] = []

    def losing(req: Request) -> Reply:
        reply = standin(req)
        if req.path == PREVIEW_LIST and req.body["video_spec"]["name"].startswith("mug ") and not dropped:
            dropped.append(req)
            return Reply(status=-1)  # carried out, answer lost
        return reply

    with Scripted(losing) as api:
        common = ("--api-base", api.url, "--state", state, *FAST, "--request-timeout", "2")
        first = run("preview", manifest(write), *common, env=ENV)
        assert first.exit_code == 1
        assert "not say which preview" in first.stdout + first.stderr
        sent = len(api.posts(PREVIEW_LIST))
        assert sent == 2  # the lost one was not sent again

        second = run("preview", manifest(write), *common, env=ENV)
        assert second.exit_code == 1 and len(api.posts(PREVIEW_LIST)) == sent
        applied = run("apply", manifest(write, {"mug": "B", "lamp": "B"}), *common, "--select", "lamp", env=ENV)
        assert applied.exit_code == 0 and len(api.posts(SINGLE)) == 1  # lamp renders from its own

        retried = run("preview", manifest(write), *common, "--retry-failed", env=ENV)
        assert retried.exit_code == 0, retried.stderr + retried.stdout
        assert len(api.posts(PREVIEW_LIST)) == sent + 1


def test_preview_styles_are_a_v2_setting_refused_at_their_line(write, run):
    path = write("v1.yaml", """
        version: 1
        api: {version: v1}
        defaults:
          render:
            avatar_id: 37
            preview_styles: [Dynamic Showcase]
        products:
          - key: mug
            url: https://shop.example/mug
    """)
    result = run("validate", path)
    assert result.exit_code == 3
    assert f"{path}:6:" in result.stderr and "is a v2 setting" in result.stderr
    twice = write("twice.yaml", """
        version: 1
        api: {version: v2}
        defaults: {render: {avatar_id: 37, preview_styles: [A, A]}}
        products: [{key: mug, url: "https://shop.example/mug"}]
    """)
    refused = run("validate", twice)
    assert refused.exit_code == 3 and "different visual style names" in refused.stderr


def test_preview_without_preview_styles_says_so_and_sends_nothing(write, run, sb):
    path = write("plain.yaml", """
        version: 1
        api: {version: v2}
        defaults: {render: {avatar_id: 37}}
        products: [{key: mug, url: "https://shop.example/mug"}]
    """)
    result = run("preview", path, "--api-base", sb.url, "--state", os.path.join(os.path.dirname(path), "s.json"),
                 *FAST, env=ENV)
    assert result.exit_code == 3 and "sets render.preview_styles" in result.stderr
    assert "Traceback" not in result.stderr
    assert sb.stats()["requests"] == {}


def test_adding_preview_styles_never_makes_a_rendered_video_out_of_date(tmp_path, write, run, sb):
    state = str(tmp_path / "state.json")
    plain = write("shop.yaml", """
        version: 1
        name: shop
        api: {version: v2}
        defaults: {render: {avatar_id: 37, video_length: 15, lang: english}}
        products: [{key: mug, url: "https://shop.example/mug"}]
    """)
    assert run("apply", plain, "--api-base", sb.url, "--state", state, *FAST, env=ENV).exit_code == 0
    with_styles = _sandbox_manifest(write)
    planned = run("plan", with_styles, "--state", state, "--api-base", sb.url, "--select", "mug")
    assert "up-to-date" in planned.stdout, planned.stderr


def test_sigkill_across_preview_and_apply_never_previews_or_renders_twice(tmp_path, spawn):
    figures = crash(str(tmp_path), kills=4, seed=3, n=8, popen=spawn)
    assert figures["duplicate_previews"] == 0 and figures["duplicate_renders"] == 0
    assert figures["previews"] == 8 * 3 and figures["renders_from_previews"] == 8 == figures["succeeded"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_sigkill_campaign_across_preview_and_apply(tmp_path, seed, spawn):
    figures = crash(str(tmp_path), kills=10, seed=seed, n=12, popen=spawn)
    assert figures["duplicate_previews"] == 0 and figures["duplicate_renders"] == 0


def test_a_failed_video_is_not_previewed_into_a_second_render(tmp_path, write, run):
    """Previewing a video whose render failed would need a fresh product and leave it
    pending: the next apply would pay again without --retry-failed. It is refused instead."""
    state = str(tmp_path / "state.json")
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0, fail_rate=1.0)) as sb:
        common = ("--api-base", sb.url, "--state", state, *FAST)
        assert run("apply", _sandbox_manifest(write), *common, env=ENV).exit_code == 1
        before = sb.stats()["requests"]
        blocked = run("preview", _sandbox_manifest(write), *common, env=ENV)
        assert blocked.exit_code == 1 and "--retry-failed" in blocked.stdout
        assert sb.stats()["requests"] == before  # nothing sent, not even a product
        assert "failed" in run("plan", _sandbox_manifest(write), "--state", state, "--api-base", sb.url).stdout


def test_preview_uploads_local_media_once_and_apply_does_not_again(tmp_path, write, run, sb):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "front.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4)
    state = str(tmp_path / "state.json")
    text = ("version: 1\nname: shop\napi: {version: v2}\n"
            "defaults: {render: {avatar_id: 37, preview_styles: [Dynamic Showcase]}}\n"
            "products:\n  - key: mug\n    url: https://shop.example/mug\n"
            "    details: {intro_medias: [media/front.jpg]}\n")
    common = ("--api-base", sb.url, "--state", state, *FAST)
    planned = run("preview", write("shop.yaml", text), *common, "--output", "json", env=ENV)
    assert planned.exit_code == 0, planned.stderr + planned.stdout
    assert sb.stats()["uploads_stored"] == 1 and sb.stats()["previews_made"] == 1
    chosen = text.replace("preview_styles: [Dynamic Showcase]}", "preview_styles: [Dynamic Showcase], "
                          "visual_style: Dynamic Showcase}")
    applied = run("apply", write("shop.yaml", chosen), *common, env=ENV)
    assert applied.exit_code == 0, applied.stderr + applied.stdout
    stats = sb.stats()
    assert stats["uploads_signed"] == 1 and stats["renders_from_previews"] == 1
    product = next(iter(sb.backend.v2_products.values()))
    assert product["media"][0]["url"].startswith(sb.url)  # the hosted asset, not a file path


def test_max_credits_refuses_previews_over_the_cap(tmp_path, write, run, sb):
    state = str(tmp_path / "state.json")
    common = ("--api-base", sb.url, "--state", state, *FAST)
    refused = run("preview", _sandbox_manifest(write), *common, "--max-credits", "1", env=ENV)
    assert refused.exit_code == 1 and "over --max-credits 1" in refused.stderr
    assert sb.stats()["requests"] == {}  # nothing sent, not even a product
    # Two videos of two styles cost 2 credits: a cap of 2 lets both through.
    assert run("preview", _sandbox_manifest(write), *common, "--max-credits", "2", env=ENV).exit_code == 0
    assert sb.stats()["previews_made"] == 4


def test_the_sandbox_keeps_its_preview_clips_whatever_the_output(tmp_path, write, run):
    path = _sandbox_manifest(write, styles="[Dynamic Showcase]")
    done = run("preview", path, "--sandbox", "--output", "json", "--yes", env={})
    assert done.exit_code == 0, done.stderr + done.stdout
    kept = tmp_path / ".jogg-flow" / "sandbox-media"
    assert sorted(p.name for p in kept.iterdir() if p.suffix == ".mp4") == [
        "lamp.preview-dynamic-showcase.mp4", "mug.preview-dynamic-showcase.mp4"]
