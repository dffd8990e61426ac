"""JoggAI's v2 API: the sandbox's shapes, the field mapping, the documented variants."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from jogg_flow.api import PostBudget
from jogg_flow.api.v2 import V2Client, video_body
from jogg_flow.manifest import load_manifest
from jogg_flow.sandbox import Config, Sandbox

H = {"x-api-key": "k", "Content-Type": "application/json"}


def test_sandbox_v2_product_and_video_shapes():
    with Sandbox(Config(render_seconds=0.0)) as sb:
        product = requests.post(f"{sb.url}/v2/product", headers=H, timeout=5,
                                json={"url": "https://shop.example/p"}).json()
        assert (product["code"], product["msg"]) == (0, "Success")
        assert set(product["data"]) == {"product_id", "url", "name", "description",
                                        "target_audience", "media"}
        pid = product["data"]["product_id"]
        assert isinstance(pid, str)
        put = requests.put(f"{sb.url}/v2/product", headers=H, timeout=5,
                           json={"product_id": pid, "name": "N"}).json()
        assert (put["code"], put["msg"], "data" in put) == (0, "Success", False)
        body = {"product_id": pid, "video_spec": {"length": "15", "aspect_ratio": "portrait", "name": "x"},
                "avatar": {"id": 37, "type": 0}, "voice": {}, "audio": {},
                "script": {"style": "Discovery", "language": "english"}}
        made = requests.post(f"{sb.url}/v2/create_video_from_product", headers=H, json=body, timeout=5).json()
        assert made["data"]["status"] == "processing"
        video = requests.get(f"{sb.url}/v2/product_video/{made['data']['video_id']}", headers=H,
                             timeout=5).json()["data"]
        assert video["status"] == "completed" and video["duration"] == video["video_duration"] == 3.0
        listed = requests.get(f"{sb.url}/v2/product_videos", headers=H, timeout=5,
                              params={"page": 1, "page_size": 10}).json()["data"]
        assert set(listed) == {"videos", "total", "page", "page_size"} and listed["total"] == 1
        assert listed["videos"][0]["title"] == "x"
        bad = requests.post(f"{sb.url}/v2/create_video_from_product", headers=H, timeout=5,
                            json={**body, "video_spec": {"length": "45"}}).json()
        assert bad["code"] == 40000
        missing = requests.post(f"{sb.url}/v2/create_video_from_product", headers=H, timeout=5,
                                json={**body, "product_id": "nope"}).json()
        assert missing["code"] == 10104
        assert sb.stats()["renders_per_product"] == {pid: 1}


def test_manifest_settings_map_to_v2_nested_body(write):
    path = write("m.yaml", """
        version: 1
        api: {version: v2}
        products:
          - key: a
            url: https://shop.example/a
            render: {aspect_ratio: "1:1", render_subtitle: true, lang: german, avatar_id: "52",
                     avatar_type: custom, script_style: Data_stage, visual_style: Dynamic Showcase,
                     video_length: 60, voice_id: de-DE-KatjaNeural, music_id: 7,
                     override_script: Hallo}
        """)
    (video,) = load_manifest(path, environ={}).videos
    assert video_body("P1", video.render, "a [jf-1]") == {
        "product_id": "P1",
        "video_spec": {"length": "60", "name": "a [jf-1]", "aspect_ratio": "square", "caption": True},
        "avatar": {"id": 52, "type": 1}, "voice": {"id": "de-DE-KatjaNeural"}, "audio": {"music_id": 7},
        "script": {"style": "Data", "language": "german"}, "visual_style": "Dynamic Showcase",
        "override_script": "Hallo"}


class _Scripted(BaseHTTPRequestHandler):
    """Answers as JoggAI's guides show, not as its spec does: product_video_id, video_duration."""

    protocol_version = "HTTP/1.1"
    answers = {
        "POST /v2/create_video_from_product": {"product_video_id": "pv_123456"},
        "GET /v2/product_video/pv_123456": {"id": "pv_123456", "status": "success",
                                            "video_url": "https://res.example/v.mp4",
                                            "video_duration": 30.5, "cover_url": "https://res.example/c.jpg"},
    }

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        data = self.answers[f"{self.command} {self.path}"]
        payload = json.dumps({"code": 0, "msg": "Success", "data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer


@pytest.fixture
def scripted():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_documented_variants_are_accepted(scripted):
    client = V2Client(scripted, "k")
    video_id = client.submit_render({"product_id": "P", "marker": "m"}, {"avatar_id": 1})
    assert video_id == "pv_123456"
    info = client.project_info(video_id)
    assert (info.status, info.duration, info.video_url) == ("succeeded", 30.5, "https://res.example/v.mp4")


def test_catalog_lists_both_generations(run):
    avatars = run("catalog", "avatars", "--sandbox", "--format", "json")
    assert avatars.exit_code == 0 and json.loads(avatars.stdout)[0]["id"] == 37
    styles = run("catalog", "visual-styles", "--sandbox", "--api-version", "v2")
    assert styles.exit_code == 0 and "Simple split screen template" in styles.stdout
    music = run("catalog", "music", "--sandbox", "--api-version", "v2", "--format", "json")
    assert json.loads(music.stdout)[0]["name"] == "Upbeat Morning"
    open_templates = run("catalog", "templates", "--sandbox")
    assert open_templates.exit_code == 3 and "api.version: v2" in open_templates.stderr


def test_a_lost_render_is_found_beyond_the_first_page():
    with Sandbox(Config(post_limit=10**6, render_seconds=0.0)) as sb:
        client = V2Client(sb.url, "k", budget=PostBudget(10**6, 1.0))
        product_id, _ = client.create_product("https://shop.example/p")
        ours = {"product_id": product_id, "marker": "p [jf-ours]"}
        mine = client.submit_render(ours, {"avatar_id": 37})
        for i in range(130):  # newer videos push ours onto the second page
            client.submit_render({"product_id": product_id, "marker": f"other {i}"}, {"avatar_id": 37})
        assert client.find_render(ours) == mine
        assert client.find_render({"marker": "never sent"}) is None


def _problems(run, write, text):
    result = run("validate", write("m.yaml", text))
    return result.exit_code, result.stderr


def test_v2_without_an_avatar_id_is_refused_at_the_products_line(run, write):
    code, err = _problems(run, write, """
        version: 1
        api: {version: v2}
        products:
          - key: a
            url: https://shop.example/a
          - key: b
            url: https://shop.example/b
            render: {avatar_id: 7}
        """)
    assert code == 3 and "m.yaml:4:5: render.avatar_id is required for api.version v2" in err
    assert "products[1]" not in err
    code, _ = _problems(run, write, """
        version: 1
        api: {version: v2}
        defaults: {render: {avatar_id: 37}}
        products: [{key: a, url: "https://shop.example/a"}]
        """)
    assert code == 0


def test_v2_script_style_outside_its_list_is_refused_at_its_line(run, write):
    code, err = _problems(run, write, """
        version: 1
        api: {version: v2}
        defaults: {render: {avatar_id: 37, script_style: Soft Selling}}
        products:
          - {key: a, url: "https://shop.example/a"}
          - {key: b, url: "https://shop.example/b"}
          - {key: c, url: "https://shop.example/c", render: {script_style: top 3 Reasons}}
          - {key: d, url: "https://shop.example/d", render: {script_style: Data_stage}}
        """)
    assert code == 3
    assert err.count("script_style 'Soft Selling' is not one of api.version v2's") == 1  # once, at defaults
    assert "m.yaml:3:" in err and "Light marketing" in err


@pytest.mark.parametrize("field", ["template_name: Card Stacking", "template_type: common",
                                   "index_template_name: Spring"])
def test_open_only_fields_are_refused_under_v2_with_the_hint(run, write, field):
    code, err = _problems(run, write, f"""
        version: 1
        api: {{version: v2}}
        defaults: {{render: {{avatar_id: 37}}}}
        products:
          - key: a
            url: https://shop.example/a
            render: {{{field}}}
        """)
    assert code == 3 and "m.yaml:7:" in err and "visual_style" in err


def test_v1_only_and_v2_fields_are_refused_for_open(run, write):
    code, err = _problems(run, write, """
        version: 1
        products:
          - key: a
            url: https://shop.example/a
            render: {visual_style: Dynamic Showcase, template_id: 4}
        """)
    assert code == 3
    assert "visual_style: is a v1/v2 setting" in err and "template_id: is a v1 setting" in err


def test_v1_render_rules_in_the_schema():
    from jogg_flow.manifest import schema

    doc = {"version": 1, "api": {"version": "v1"}, "products": [{"key": "a", "url": "https://s.example/a",
           "render": {"visual_style": "FullScreen", "template_id": 3, "template_type": "public",
                      "voice_id": "v", "template_name": "Card Stacking"}}]}
    messages = [m for _, m, _ in schema.check(doc) if "render" in m]
    assert messages == ["products[0].render.template_name: is an open-API setting (api.version: open); "
                        "v1 and v2 take visual_style instead"]
    from jogg_flow.manifest.build import normalise_render, render_problems

    assert normalise_render({"template_type": "user"}, "v1") == {"template_type": "custom"}
    assert normalise_render({"template_type": "user"}) == {"template_type": "user"}
    assert render_problems("v1", {"avatar_id": 1, "script_style": "humor & meme"}) == []


def test_v2_body_always_names_aspect_and_avatar_type_and_sends_the_required_voice(write):
    path = write("m.yaml", """
        version: 1
        api: {version: v2}
        products: [{key: a, url: "https://shop.example/a", render: {avatar_id: 37}}]
        """)
    (video,) = load_manifest(path, environ={}).videos
    body = video_body("P1", video.render, "a [jf-1]")
    assert body["video_spec"]["aspect_ratio"] == "landscape"  # JoggAI's documented default
    assert body["avatar"] == {"id": 37, "type": 0}
    # voice is required by openapi-v2.yaml (create_video_from_product): {} when no voice_id
    assert body["voice"] == {} and body["audio"] == {} and "visual_style" not in body


def test_readme_names_the_v2_host_without_the_path():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    assert "https://api.jogg.ai/v2`" not in readme and "`https://api.jogg.ai`" in readme
