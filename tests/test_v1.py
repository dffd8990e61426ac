"""JoggAI's v1 API: the exact bodies a scripted server receives, the sandbox's v1 routes, and
the whole flow through the real CLI (apply, second apply, replace, lost answers, kills)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from jogg_flow.api import CLIENTS, DEFAULT_BASES, VERSIONS
from jogg_flow.api.v1 import V1Client, video_body
from jogg_flow.manifest import load_manifest
from jogg_flow.sandbox import Config, Fault, Sandbox
from jogg_flow.state import State

from .conftest import FAKE_KEY

H = {"x-api-key": "k", "Content-Type": "application/json"}
RENDER = {"aspect_ratio": 1, "render_subtitle": 1, "lang": "german", "avatar_id": 52, "avatar_type": 1,
          "template_type": "user", "script_style": "Data_stage", "video_length": "60",
          "voice_id": "de-DE-KatjaNeural", "music_id": 7, "override_script": "Hallo"}


class _Scripted(BaseHTTPRequestHandler):
    """Records every request and answers from `answers` (route -> data) in JoggAI's envelope."""

    protocol_version = "HTTP/1.1"
    answers: dict[str, Any] = {}
    seen: list[tuple[str, Any, dict[str, str]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        route = f"{self.command} {self.path}"
        self.seen.append((route, body, dict(self.headers)))
        data = self.answers.get(route.split("?")[0])
        payload = json.dumps({"rid": "a" * 32, "code": 0, "msg": "success", "data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _any


@contextmanager
def scripted(answers: dict[str, Any]) -> Iterator[tuple[str, list[tuple[str, Any, dict[str, str]]]]]:
    class Handler(_Scripted):  # this server's answers, and a log of its own
        pass

    Handler.answers, Handler.seen = answers, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", Handler.seen
    finally:
        server.shutdown()
        server.server_close()


def test_v1_is_a_registered_generation_at_the_documented_host():
    assert "v1" in VERSIONS and CLIENTS["v1"] is V1Client
    assert DEFAULT_BASES["v1"] == "https://api.jogg.ai"
    assert V1Client.shares_products is True


def test_render_body_is_exactly_the_documented_one_and_base_v1_is_not_doubled():
    answers = {"POST /v1/create_video_from_url": {"project_id": "7321782d69884a869400beb255e3ca91"}}
    with scripted(answers) as (url, seen):
        client = V1Client(url + "/v1/", "secret-key-123")
        got = client.submit_render({"product_id": "NTQ0MTkzNjg", "marker": "a [jf-1]"}, RENDER)
    assert got == "7321782d69884a869400beb255e3ca91"
    ((route, body, headers),) = seen
    assert route == "POST /v1/create_video_from_url" and headers["x-api-key"] == "secret-key-123"
    assert body == {"product_id": "NTQ0MTkzNjg", "aspect_ratio": 1, "video_length": "60",
                    "language": "german", "avatar_id": 52, "avatar_type": 1, "template_type": "custom",
                    "script_style": "Data", "voice_id": "de-DE-KatjaNeural", "music_id": 7,
                    "override_script": "Hallo", "caption": True, "video_name": "a [jf-1]"}


def test_render_body_defaults_and_visual_style_or_template():
    minimal = video_body("P", {"avatar_id": 37}, "k [jf-2]")
    # landscape: the one default of every generation (v2's documented one); v1 requires the field
    assert minimal == {"product_id": "P", "aspect_ratio": 1, "video_length": "30", "language": "english",
                       "avatar_id": 37, "avatar_type": 0, "template_type": "public",
                       "script_style": "Soft Selling", "video_name": "k [jf-2]"}
    styled = video_body("P", {"avatar_id": 37, "visual_style": "FullScreen",
                              "template_type": "common", "script_style": "discovery_stage",
                              "template_name": "Card Stacking", "render_subtitle": 0}, "n")
    # "With Visual Style" (CreateVideoFromURL guide): no template_id at all
    assert (styled["visual_style"], styled["template_type"]) == ("FullScreen", "public")
    assert "template_id" not in styled
    assert styled["script_style"] == "Discovery" and styled["caption"] is False
    assert "template_name" not in styled  # a G0 AI template is not a v1 visual style
    assert video_body("P", {"avatar_id": 1, "template_id": 149}, "n")["template_id"] == 149


def test_manifest_v1_settings_validate_and_map(write):
    path = write("m.yaml", """
        version: 1
        api: {version: v1}
        products:
          - key: a
            url: https://shop.example/a
            render: {aspect_ratio: "16:9", avatar_id: "52", avatar_type: custom, video_length: 15,
                     script_style: Top 3 reasons, voice_id: en-US-ChristopherNeural, music_id: 7}
        """)
    manifest = load_manifest(path, environ={})
    assert manifest.api_version == "v1"
    body = video_body("P", manifest.videos[0].render, "a")
    assert (body["aspect_ratio"], body["avatar_id"], body["avatar_type"], body["video_length"]) == (1, 52, 1, "15")


def test_product_create_update_and_an_integer_project_id():
    answers = {"POST /v1/product": {"product_id": "NTQ0MTkzNjg", "url": "u"},
               "POST /v1/create_video_from_url": {"project_id": 123456}}
    with scripted(answers) as (url, seen):
        client = V1Client(url, "k")
        assert client.create_product("https://shop.example/p") == ("NTQ0MTkzNjg", None)
        client.update_product("NTQ0MTkzNjg", {"title": "T", "intro_text": "D", "target_audience": "A",
                                              "intro_medias": [{"type": 1, "url": "https://x/1.png",
                                                                "name": "1.png", "description": "d"}]})
        assert client.submit_render({"product_id": "NTQ0MTkzNjg", "marker": "m"}, {"avatar_id": 1}) == "123456"
    assert seen[0][:2] == ("POST /v1/product", {"url": "https://shop.example/p"})
    assert seen[1][:2] == ("PUT /v1/product", {
        "product_id": "NTQ0MTkzNjg", "name": "T", "description": "D", "target_audience": "A",
        "media": [{"type": 1, "name": "1.png", "url": "https://x/1.png", "description": "d"}]})


@pytest.mark.parametrize(("code", "status"), [(1, "pending"), (2, "pending"), (3, "processing"),
                                              (4, "succeeded"), (5, "failed"), (99, "failed")])
def test_status_codes_map_and_status_1_means_accepted(code, status):
    data = {"id": "p", "status_code": code, "status_desc": "x", "video_url": "https://r/v.mp4" if code == 4
            else "", "video_duration": 6}
    with scripted({"GET /v1/project": data}) as (url, seen):
        info = V1Client(url, "k").project_info("fa62")
    assert info.status == status and seen[0][0] == "GET /v1/project?project_id=fa62"
    assert V1Client(url, "k").find_render({"product_id": "P", "marker": "m"}) is None


def test_whoami_gives_the_account_never_the_key():
    with scripted({"GET /v1/whoami": {"username": "ann", "email": "ann@example.com"}}) as (url, _):
        assert V1Client(url, "secret-key-123").whoami() == "ann@example.com"
    with scripted({"GET /v1/whoami": {"username": "ann"}}) as (url, _):
        assert V1Client(url, "k").whoami() == "ann"


def test_sandbox_v1_routes_shapes_and_parameter_errors():
    with Sandbox(Config(render_seconds=0.0)) as sb:
        made = requests.post(f"{sb.url}/v1/product", headers=H, json={"url": "https://shop.example/p"},
                             timeout=5).json()
        assert (made["code"], made["msg"]) == (0, "success") and isinstance(made["data"]["product_id"], str)
        body = video_body(made["data"]["product_id"], {"avatar_id": 37}, "v [jf-1]")
        for field in ("avatar_id", "language", "template_type"):
            bad = requests.post(f"{sb.url}/v1/create_video_from_url", headers=H, timeout=5,
                                json={k: v for k, v in body.items() if k != field}).json()
            assert (bad["code"], bad["msg"]) == (40000, f"Parameter error: {field} is required")
        bad = requests.post(f"{sb.url}/v1/create_video_from_url", headers=H, timeout=5,
                            json={**body, "script_style": "Storytime"}).json()
        assert (bad["code"], bad["msg"]) == (40000, "Parameter error: script_style is invalid")
        ok = requests.post(f"{sb.url}/v1/create_video_from_url", headers=H, json=body, timeout=5).json()
        project_id = ok["data"]["project_id"]
        assert len(project_id) == 32 and int(project_id, 16) >= 0
        got = requests.get(f"{sb.url}/v1/project", headers=H, params={"project_id": project_id},
                           timeout=5).json()["data"]
        assert (got["status_code"], got["status_desc"], got["video_duration"]) == (4, "success", 3)
        who = requests.get(f"{sb.url}/v1/whoami", headers=H, timeout=5).json()
        assert who["data"] == {"username": "sandbox", "email": "sandbox@example.com"}
        stats = sb.stats()
        assert stats["renders_per_project"] == {project_id: 1}
        assert stats["renders_by_name"] == {"v [jf-1]": [project_id]}


def test_sandbox_v1_charges_credits():
    with Sandbox(Config(credits=0)) as sb:
        pid = requests.post(f"{sb.url}/v1/product", headers=H, json={"url": "https://s.example/p"},
                            timeout=5).json()["data"]["product_id"]
        bad = requests.post(f"{sb.url}/v1/create_video_from_url", headers=H, timeout=5,
                            json=video_body(pid, {"avatar_id": 37}, "n")).json()
        assert bad["code"] == 18020


@pytest.mark.parametrize(("kind", "column"), [("avatars", "avatar_id"), ("voices", "voice_id"),
                                              ("templates", "id"), ("visual-styles", "id"), ("music", "id")])
def test_catalog_v1_through_the_cli(run, kind, column):
    result = run("catalog", kind, "--api-version", "v1", "--sandbox", "--format", "json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert items and all(column in i for i in items)


MANIFEST = """
    version: 1
    api: {{version: v1}}
    defaults:
      render: {{avatar_id: 37, aspect_ratio: "9:16", script_style: {style}, render_subtitle: true}}
    products:
      - key: a
        url: https://shop.example/p/a
        details: {{title: A}}
        variants: [{{name: one}}, {{name: two}}]
      - key: b
        url: https://shop.example/p/b
    """


def _apply(run, path: str, sb: Sandbox, *extra: str):
    result = run("apply", path, "--api-base", sb.url + "/v1", "--state", path + ".state", "--output", "json",
                 "--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2", *extra,
                 env={"JOGG_API_KEY": FAKE_KEY})
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return result, events


def test_apply_v1_end_to_end_then_nothing_then_replace(run, write, sandbox):
    path = write("m.yaml", MANIFEST.format(style="Discovery_stage"))
    result, events = _apply(run, path, sandbox)
    assert result.exit_code == 0, result.output
    videos = {e["key"]: e for e in events if e["event"] == "video"}
    assert {k: v["status"] for k, v in videos.items()} == dict.fromkeys(("a/one", "a/two", "b"), "succeeded")
    stats = sandbox.stats()
    assert stats["renders_accepted"] == 3 and set(stats["renders_per_project"].values()) == {1}
    assert stats["requests"]["POST /v1/create_video_from_url"] == 3
    settings = [p["settings"] for p in sandbox.backend.v1_projects.values()]
    assert {s["script_style"] for s in settings} == {"Discovery"} and all(s["caption"] for s in settings)

    again, events = _apply(run, path, sandbox)
    summary = events[-1]
    assert again.exit_code == 0 and summary["requests"] == 0 and summary["counts"] == {"up-to-date": 3}
    assert sandbox.stats()["renders_accepted"] == 3

    write("m.yaml", MANIFEST.format(style="Data"))
    replaced, _ = _apply(run, path, sandbox)
    assert replaced.exit_code == 0, replaced.output
    stats = sandbox.stats()
    assert stats["renders_accepted"] == 6 and set(stats["renders_per_project"].values()) == {1}
    records = State.load(path + ".state").videos
    assert all(r["status"] == "succeeded" and r["history"] for r in records.values())


def test_a_lost_v1_render_answer_is_never_sent_again(run, write):
    path = write("m.yaml", MANIFEST.format(style="Discovery"))
    config = Config(time_scale=60.0, render_seconds=30.0,
                    faults=[Fault("drop_after_commit", "POST /v1/create_video_from_url")])
    with Sandbox(config) as sb:
        first, events = _apply(run, path, sb)
        second, _ = _apply(run, path, sb)
        stats = sb.stats()
    statuses = sorted(e["status"] for e in events if e["event"] == "video")
    assert not [e for e in events if e["event"] == "retry" and "40000" in e.get("reason", "")]  # not polled
    assert first.exit_code == 1 and statuses == ["needs-check", "succeeded", "succeeded"]
    assert second.exit_code == 1  # still needs the user's check: nothing is re-sent
    assert stats["renders_accepted"] == 3 and set(stats["renders_per_project"].values()) == {1}
    assert stats["requests"]["POST /v1/create_video_from_url"] == 3


def test_v1_resumes_after_a_killed_run(write, tmp_path):
    path = write("m.yaml", MANIFEST.format(style="Discovery"))
    state = str(tmp_path / "s.json")
    with Sandbox(Config(time_scale=60.0, render_seconds=60.0)) as sb:
        cmd = [sys.executable, "-m", "jogg_flow", "apply", path, "--api-base", sb.url, "--state", state,
               "--post-rate", "20/1s", "--poll-interval", "0.05", "--output", "json"]
        env = {**os.environ, "JOGG_API_KEY": FAKE_KEY}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        for line in proc.stdout:  # killed once every render was accepted, before any finished
            if line.count('"remote_status"') and sb.stats()["renders_accepted"] == 3:
                break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        final = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        stats = sb.stats()
    assert final.returncode == 0, final.stderr
    assert stats["renders_accepted"] == 3 and set(stats["renders_per_project"].values()) == {1}
    assert all(r["status"] == "succeeded" for r in State.load(state).videos.values())


def test_init_names_the_generation_and_its_manifest_applies_on_v1(run, tmp_path):
    path = str(tmp_path / "jf.yaml")
    assert run("init", path).exit_code == 0
    text = (tmp_path / "jf.yaml").read_text()
    assert "version: v1" in text and "Start here" in text and "open " in text and "v2 " in text
    assert load_manifest(path, environ={}).api_version == "v1"
    applied = run("apply", path, "--sandbox", "--output", "json")
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.stdout.splitlines()[-1])["counts"] == {"succeeded": 1}
