"""The sandbox against the documented request and response shapes (reference §2, §3)."""

from __future__ import annotations

import re

import requests

from jogg_flow.sandbox import Config, Sandbox

HEX32 = re.compile(r"^[0-9a-f]{32}$")
PRJ_INFO_KEYS = {"id", "title", "progress", "progress_desc", "aspect_ratio", "step", "status",
                 "err_msg", "video_path", "video_duration", "video_url", "cover_path", "cover_url",
                 "workspace_index", "template_id", "template_type", "index_template_id",
                 "person_id", "placeholder_cover_url", "created_at", "updated_at"}
H = {"x-api-key": "any-key", "Content-Type": "application/json"}


def test_the_seed_flow_with_documented_shapes():
    with Sandbox(Config(render_seconds=0.0)) as sb:
        created = requests.post(f"{sb.url}/open/product", headers=H,
                                json={"url": "https://www.amazon.com/dp/B000000001"}, timeout=5).json()
        assert created["code"] == 0 and created["msg"] == "success"
        assert HEX32.match(created["rid"])
        assert isinstance(created["data"]["id"], int) and HEX32.match(created["data"]["prj_id"])
        product_id, prj_id = created["data"]["id"], created["data"]["prj_id"]

        updated = requests.put(f"{sb.url}/open/product", headers=H, timeout=5, json={
            "product_id": product_id, "title": "T", "intro_text": "I", "target_audience": "A",
            "intro_medias": [{"type": 1, "url": "https://cdn.example/a.jpg", "name": "a.jpg"}]}).json()
        assert {k: updated[k] for k in ("code", "msg")} == {"code": 0, "msg": "success"}
        assert "data" not in updated

        idle = requests.get(f"{sb.url}/open/prj_info", headers=H, timeout=5,
                            params={"project_id": prj_id}).json()["data"]
        assert idle["status"] == 1 and idle["video_url"] == ""

        rendered = requests.post(f"{sb.url}/open/project/render", headers=H, timeout=5, json={
            "project_id": prj_id, "aspect_ratio": 0, "lang": "english", "render_subtitle": 1,
            "avatar_id": 37, "template_name": "Card Stacking", "template_type": "common",
            "index_template_name": "", "script_style": "Discovery_stage"}).json()
        assert {k: rendered[k] for k in ("code", "msg")} == {"code": 0, "msg": "success"}

        info = requests.get(f"{sb.url}/open/prj_info", headers=H, timeout=5,
                            params={"project_id": prj_id}).json()["data"]
        assert set(info) == PRJ_INFO_KEYS
        assert info["status"] == 4 and info["progress"] == 100
        video = requests.get(info["video_url"], timeout=5)
        cover = requests.get(info["cover_url"], timeout=5)
        assert video.content[4:8] == b"ftyp" and video.headers["Content-Type"] == "video/mp4"
        assert cover.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert sb.stats()["renders_per_project"] == {prj_id: 1}


def test_renders_move_through_waiting_processing_success():
    with Sandbox(Config(render_seconds=100.0, time_scale=1.0)) as sb:
        prj = requests.post(f"{sb.url}/open/product", headers=H, timeout=5,
                            json={"url": "https://shop.example/p"}).json()["data"]["prj_id"]
        requests.post(f"{sb.url}/open/project/render", headers=H, json={"project_id": prj}, timeout=5)
        sb.backend.projects[prj]["rendered_at"] -= 50  # half way through, without waiting
        info = requests.get(f"{sb.url}/open/prj_info", headers=H, params={"project_id": prj},
                            timeout=5).json()["data"]
        assert info["status"] == 3 and 45 <= info["progress"] <= 55


def test_parameter_and_lookup_errors_use_joggai_codes():
    with Sandbox() as sb:
        prj = requests.post(f"{sb.url}/open/product", headers=H, timeout=5,
                            json={"url": "https://shop.example/p"}).json()["data"]["prj_id"]
        bad = requests.post(f"{sb.url}/open/project/render", headers=H, timeout=5,
                            json={"project_id": prj, "aspect_ratio": 7}).json()
        assert bad["code"] == 40000 and "aspect_ratio" in bad["msg"] and bad["data"] is None
        missing = requests.get(f"{sb.url}/open/prj_info", headers=H, timeout=5,
                               params={"project_id": "0" * 32}).json()
        assert (missing["code"], missing["msg"]) == (10104, "Record not found")
        no_url = requests.post(f"{sb.url}/open/product", headers=H, json={}, timeout=5).json()
        assert no_url["code"] == 40000
        assert sb.stats()["renders_accepted"] == 0


def test_wrong_key_gets_10105_with_configurable_http_status():
    with Sandbox(Config(api_keys=frozenset({"good"}), auth_http_status=401)) as sb:
        resp = requests.post(f"{sb.url}/open/product", timeout=5,
                             headers={**H, "x-api-key": "bad"}, json={"url": "https://a.example"})
        assert resp.status_code == 401
        assert (resp.json()["code"], resp.json()["msg"]) == (10105, "Invalid API key")


def test_post_budget_is_enforced_per_key_and_gets_are_not_limited():
    with Sandbox(Config(post_limit=3, post_window=60.0)) as sb:
        codes = [requests.post(f"{sb.url}/open/product", headers=H, timeout=5,
                               json={"url": "https://a.example"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = requests.post(f"{sb.url}/open/product", headers=H, timeout=5,
                                json={"url": "https://a.example"})
        assert limited.json()["code"] == 429 and float(limited.headers["Retry-After"]) > 0
        other_key = requests.post(f"{sb.url}/open/product", headers={**H, "x-api-key": "k2"},
                                  timeout=5, json={"url": "https://a.example"})
        assert other_key.status_code == 200
        for _ in range(5):
            assert requests.get(f"{sb.url}/open/prj_info", headers=H, timeout=5,
                                params={"project_id": "x"}).status_code == 200
        assert sb.stats()["rate_limited"] == 2


def test_faults_can_be_added_over_http_and_are_counted():
    with Sandbox() as sb:
        added = requests.post(f"{sb.url}/_sandbox/faults", timeout=5,
                              json=[{"kind": "http_500", "route": "GET *"}])
        assert added.status_code == 200
        resp = requests.get(f"{sb.url}/open/prj_info", headers=H, params={"project_id": "x"}, timeout=5)
        assert resp.status_code == 500 and resp.json()["code"] == 50000
        assert requests.post(f"{sb.url}/_sandbox/faults", json=[{"kind": "nope"}],
                             timeout=5).status_code == 400
        stats = requests.get(f"{sb.url}/_sandbox/stats", timeout=5).json()
        assert stats["faults"] == {"http_500": 1}
        assert stats["requests"] == {"GET /open/prj_info": 1}


def test_starts_fast_on_a_free_port_without_dns():
    first, second = Sandbox(), Sandbox()
    try:
        assert first.url != second.url and first.url.startswith("http://127.0.0.1:")
    finally:
        first._server.server_close()
        second._server.server_close()


def test_sandbox_command_serves_on_a_free_port_until_stopped(spawn):
    import signal
    import subprocess
    import sys

    proc = spawn([sys.executable, "-m", "jogg_flow", "sandbox", "--port", "0",
                             "--fault", "http_500:GET /open/prj_info:1",
                             "--fault-rate", "rate_429:POST /open/project/render=0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert found, line
        url = found.group(1)
        created = requests.post(f"{url}/open/product", headers=H, timeout=5,
                                json={"url": "https://shop.example/p"}).json()
        assert created["code"] == 0
        first = requests.get(f"{url}/open/prj_info", headers=H, timeout=5,
                             params={"project_id": created["data"]["prj_id"]})
        assert first.status_code == 500
        second = requests.get(f"{url}/open/prj_info", headers=H, timeout=5,
                              params={"project_id": created["data"]["prj_id"]})
        assert second.json()["data"]["status"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_sigint_stops_a_child_even_when_the_tests_run_as_a_background_job(spawn):
    """A background job's SIGINT is ignored and inherited: `spawn` gives it back to the child,
    so the SIGINT tests above work under `pytest &` and in CI, and do not leak their child."""
    import signal
    import subprocess
    import sys

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell does for `pytest &`
    try:
        proc = spawn([sys.executable, "-m", "jogg_flow", "sandbox", "--port", "0"],
                     stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, before)
    assert proc.stderr is not None and "JoggAI sandbox on http://127.0.0.1:" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode in (0, 130)  # stopped while serving, or while starting to
