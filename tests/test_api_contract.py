"""Requests exactly as JoggAI documents them, checked against the sandbox, which holds
the documented contract (jogg_flow/sandbox/contract.py; docs/api-contract.md)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from jogg_flow.sandbox import Config, Sandbox
from tests.conftest import FAKE_KEY

FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2", "-q")


def apply(run, manifest, sb, tmp_path):
    return run("apply", manifest, "--api-base", sb.url, "--state", str(tmp_path / "s.json"), *FAST,
               env={"JOGG_API_KEY": FAKE_KEY})


def sent(sb, version):
    """The bodies of the renders the sandbox accepted, in order."""
    backend = sb.backend
    records = {"open": [p for p in backend.projects.values() if p["rendered_at"] is not None],
               "v1": list(backend.v1_projects.values()), "v2": list(backend.v2_videos.values())}[version]
    return [r["settings"] for r in records]


@pytest.fixture
def sb():
    with Sandbox(Config(time_scale=60.0, render_seconds=6.0)) as sandbox:
        yield sandbox


def test_a_v2_render_without_a_voice_id_carries_the_required_voice(run, write, sb, tmp_path):
    manifest = write("m.yaml", "version: 1\napi: {version: v2}\n"
                     "products: [{key: a, url: 'https://shop.example/a', render: {avatar_id: 37}}]\n")
    result = apply(run, manifest, sb, tmp_path)
    assert result.exit_code == 0, result.stderr  # before: "Parameter error: voice is required"
    (body,) = sent(sb, "v2")
    assert body["voice"] == {} and body["audio"] == {}


def test_a_v2_voice_id_goes_inside_voice(run, write, sb, tmp_path):
    manifest = write("m.yaml", "version: 1\napi: {version: v2}\nproducts: [{key: a, url: "
                     "'https://shop.example/a', render: {avatar_id: 37, voice_id: en-US-ChristopherNeural, "
                     "script_style: top 3 REASONS}}]\n")
    assert apply(run, manifest, sb, tmp_path).exit_code == 0
    (body,) = sent(sb, "v2")
    assert body["voice"] == {"id": "en-US-ChristopherNeural"}
    assert body["script"]["style"] == "Top 3 reasons"  # the spec's enum spelling


V1_BOTH = """\
version: 1
api: {version: v1}
defaults:
  render: {avatar_id: 37, visual_style: Simple Product Switch}
products:
  - key: a
    url: https://shop.example/a
    render:
      template_id: 149
"""


def test_v1_template_id_beside_a_default_visual_style_is_refused_at_its_line_naming_both(run, write):
    manifest = write("m.yaml", V1_BOTH)
    result = run("validate", manifest)
    assert result.exit_code == 3  # before: valid, and template_id went out as 0
    assert f"{manifest}:9:" in result.stderr
    assert ("render.template_id (149) and render.visual_style ('Simple Product Switch') are both set"
            in result.stderr)
    assert "(render.visual_style is set at line 4)" in result.stderr


@pytest.mark.parametrize("render, has, lacks", [
    ("{avatar_id: 37, template_id: 149}", {"template_id": 149, "template_type": "public"}, "visual_style"),
    ("{avatar_id: 37, visual_style: FullScreen}", {"visual_style": "FullScreen"}, "template_id"),
])
def test_v1_sends_a_template_or_a_visual_style_as_given(run, write, sb, tmp_path, render, has, lacks):
    manifest = write("m.yaml", "version: 1\napi: {version: v1}\n"
                     f"products: [{{key: a, url: 'https://shop.example/a', render: {render}}}]\n")
    assert apply(run, manifest, sb, tmp_path).exit_code == 0
    (body,) = sent(sb, "v1")
    assert {k: body.get(k) for k in has} == has and lacks not in body


@pytest.mark.parametrize("version, expected", [("open", 1), ("v1", 1), ("v2", "landscape")])
def test_every_generation_renders_landscape_when_the_manifest_sets_no_aspect_ratio(
        run, write, sb, tmp_path, version, expected):
    manifest = write("m.yaml", f"version: 1\napi: {{version: {version}}}\n"
                     "products: [{key: a, url: 'https://shop.example/a', render: {avatar_id: 37}}]\n")
    plan = run("plan", manifest, "--state", str(tmp_path / "s.json"), "--api-base", sb.url)
    assert "Orientation: 1 video set no render.aspect_ratio: rendered landscape (16:9)" in plan.stdout
    assert apply(run, manifest, sb, tmp_path).exit_code == 0
    (body,) = sent(sb, version)
    got = body["video_spec"]["aspect_ratio"] if version == "v2" else body["aspect_ratio"]
    assert got == expected  # before: v1 portrait (0), open none (the server's choice)


GOOD_V2 = {"product_id": "P", "video_spec": {"length": "30"}, "avatar": {"id": 37}, "voice": {},
           "audio": {}, "script": {"style": "Discovery", "language": "english"}}


def _without(body, name):
    out = json.loads(json.dumps(body))
    holder = out
    *parents, leaf = name.split(".")
    for part in parents:
        holder = holder[part]
    del holder[leaf]
    return out


def _with(body, name, value):
    out = json.loads(json.dumps(body))
    holder = out
    *parents, leaf = name.split(".")
    for part in parents:
        holder = holder[part]
    holder[leaf] = value
    return out


@pytest.mark.parametrize("route, body, field", [
    *[("/v2/create_video_from_product", _without(GOOD_V2, f), f"{f} is required")
      for f in ("product_id", "video_spec", "avatar", "voice", "audio", "script", "video_spec.length",
                "avatar.id", "script.style", "script.language")],
    ("/v2/create_video_from_product", _with(GOOD_V2, "avatar.id", "37"), "avatar.id is invalid"),
    ("/v2/create_video_from_product", _with(GOOD_V2, "avatar.type", 2), "avatar.type is invalid"),
    ("/v2/create_video_from_product", _with(GOOD_V2, "voice.id", 5), "voice.id is invalid"),
    ("/v2/create_video_from_product", _with(GOOD_V2, "video_spec.aspect_ratio", 1),
     "video_spec.aspect_ratio is invalid"),
    ("/v2/create_video_from_product", _with(GOOD_V2, "script.style", "discovery_stage"), "script.style is invalid"),
    ("/v2/create_video_from_product", _with(GOOD_V2, "audio.music_id", -1), "audio.music_id is invalid"),
    ("/v2/product", {"url": "https://shop.example/a", "media": [{"type": 3, "url": "x"}]}, "media is invalid"),
    ("/v1/product", {"url": 5}, "url is invalid"),
])
def test_the_sandbox_refuses_what_the_spec_refuses_naming_the_field(sb, route, body, field):
    request = urllib.request.Request(sb.url + route, json.dumps(body).encode(), method="POST",
                                     headers={"x-api-key": FAKE_KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        envelope = json.load(answer)
    assert (envelope["code"], envelope["msg"]) == (40000, f"Parameter error: {field}")


def test_the_sandbox_refuses_a_product_update_without_its_string_id(sb):
    request = urllib.request.Request(sb.url + "/v2/product", json.dumps({"product_id": 7}).encode(),
                                     method="PUT", headers={"x-api-key": FAKE_KEY})
    with urllib.request.urlopen(request) as answer:
        assert json.load(answer)["msg"] == "Parameter error: product_id is invalid"


class StandIn:
    """An independent v1/v2 stand-in (not the sandbox): records each render body and answers
    as the specs show, so what is sent is seen as it left the client."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, r):
        from tests.scripted import Reply, envelope

        if r.path in ("/v1/whoami", "/v2/user/whoami"):
            return envelope({"email": "ops@shop.example"})
        if r.path == "/v2/user/remaining_quota":
            return envelope({"remaining_quota": 100})
        if r.path in ("/v1/product", "/v2/product"):
            return envelope({"product_id": "NTQ0MTkzNjg"})
        if r.path in ("/v1/create_video_from_url", "/v2/create_video_from_product"):
            self.bodies.append(r.body)
            return envelope({"project_id": "a" * 32, "video_id": "a" * 32, "status": "processing"})
        if r.path.startswith("/v2/product_video/"):
            return envelope({"status": "completed", "video_url": "https://res.example/v.mp4"})
        if r.path == "/v1/project":
            return envelope({"status_code": 4, "video_url": "https://res.example/v.mp4"})
        return Reply(404, b"no")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_against_an_independent_stand_in_the_bodies_hold_the_documented_fields(run, write, tmp_path, version):
    from tests.scripted import Scripted

    manifest = write("m.yaml", f"version: 1\napi: {{version: {version}}}\n"
                     "defaults: {render: {avatar_id: 37, visual_style: Simple Product Switch}}\n"
                     "products: [{key: a, url: 'https://shop.example/a'}]\n")
    stand_in = StandIn()
    with Scripted(stand_in) as api:
        result = run("apply", manifest, "--api-base", api.url, "--state", str(tmp_path / "s.json"), *FAST,
                     env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 0, result.stderr
    (body,) = stand_in.bodies
    if version == "v2":
        assert {"product_id", "video_spec", "avatar", "voice", "audio", "script"} <= set(body)
        assert body["voice"] == {} and body["video_spec"]["aspect_ratio"] == "landscape"
    else:
        assert {"product_id", "aspect_ratio", "video_length", "language", "avatar_id", "avatar_type",
                "template_type", "script_style"} <= set(body)
        assert body["visual_style"] == "Simple Product Switch" and "template_id" not in body
        assert body["aspect_ratio"] == 1
