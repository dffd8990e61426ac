"""The sandbox's realistic mode: each behaviour JoggAI (or a gateway in front of it) can show,
proved against the sandbox itself, so tests of the client's readings have something true to meet."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from jogg_flow.api.v1 import video_body as v1_body
from jogg_flow.sandbox import Config, Fault, Sandbox, realistic

H = {"x-api-key": "k", "Content-Type": "application/json"}
ROUTES = {"open": ("POST", "/open/product"), "v1": ("POST", "/v1/product"), "v2": ("POST", "/v2/product")}


def _post(sb: Sandbox, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(sb.url + path, headers=H, json=body or {"url": "https://shop.example/p"}, timeout=5)


def test_realistic_turns_on_every_unchosen_behaviour_and_the_default_stays_friendly():
    default = Config()
    assert (default.retry_hint, default.html_404, default.start_seconds, default.retired) == (True, False, 0.0, ())
    config = realistic(Config())
    assert (config.retry_hint, config.html_404, config.start_seconds) == (False, True, 30.0)


def test_429_over_budget_has_no_retry_hint_at_all():
    with Sandbox(Config(post_limit=1, retry_hint=False)) as sb:
        assert _post(sb, "/v1/product").status_code == 200
        limited = _post(sb, "/v1/product")
    body = limited.json()
    assert limited.status_code == 429 and "Retry-After" not in limited.headers
    assert {k: v for k, v in body.items() if k != "rid"} == {
        "code": 429, "msg": "Rate limit exceeded. Please try again later.", "data": None}
    with Sandbox(Config(post_limit=1)) as sb:  # the friendly default keeps its hint
        _post(sb, "/v1/product")
        assert float(_post(sb, "/v1/product").headers["Retry-After"]) > 0


def test_scripted_429_has_no_hint_in_realistic_mode():
    with Sandbox(Config(retry_hint=False, faults=[Fault("rate_429", "POST /v2/product")])) as sb:
        limited = _post(sb, "/v2/product")
    assert limited.status_code == 429 and "Retry-After" not in limited.headers
    assert "retryAfter" not in limited.text


def test_unknown_routes_answer_a_bare_html_404():
    with Sandbox(Config(html_404=True)) as sb:
        page = requests.get(f"{sb.url}/v3/whatever", headers=H, timeout=5)
        posted = _post(sb, "/v1/no_such_thing")
    for answer in (page, posted):
        assert answer.status_code == 404 and answer.headers["Content-Type"] == "text/html"
        assert answer.text.startswith("<html>") and "404 Not Found" in answer.text
    with Sandbox() as sb:  # default: JoggAI's envelope
        assert requests.get(f"{sb.url}/v3/whatever", headers=H, timeout=5).json()["code"] == 10104


@pytest.mark.parametrize(("kind", "status"), [("bare_401", 401), ("bare_403", 403)])
def test_gateway_refusals_are_json_without_a_code(kind, status):
    with Sandbox(Config(faults=[Fault(kind, "POST /v1/product")])) as sb:
        refused = _post(sb, "/v1/product")
        after = _post(sb, "/v1/product")
        stats = sb.stats()
    body = refused.json()
    assert refused.status_code == status and "code" not in body and "rid" not in body and body["message"]
    assert after.status_code == 200 and stats["products_created"] == 1  # the refused one did nothing
    assert stats["faults"] == {kind: 1}


def test_html_404_as_a_scripted_fault_does_nothing():
    with Sandbox(Config(faults=[Fault("html_404", "POST /open/product")])) as sb:
        page = _post(sb, "/open/product")
        assert sb.stats()["products_created"] == 0
    assert page.status_code == 404 and page.headers["Content-Type"] == "text/html"


@pytest.mark.parametrize("generation", ["open", "v1", "v2"])
def test_a_retired_generation_answers_html_404_on_every_route(generation):
    others = [g for g in ROUTES if g != generation]
    with Sandbox(Config(retired=(generation,))) as sb:
        method, path = ROUTES[generation]
        gone = requests.request(method, sb.url + path, headers=H, json={"url": "https://s.example/p"},
                                timeout=5)
        poll = requests.get(f"{sb.url}/{generation}/anything", headers=H, timeout=5)
        alive = [_post(sb, ROUTES[g][1]).json()["code"] for g in others]
        stats = sb.stats()
    for answer in (gone, poll):
        assert answer.status_code == 404 and answer.headers["Content-Type"] == "text/html"
    assert alive == [0, 0] and stats["products_created"] == 2


def test_retiring_an_unknown_generation_is_refused():
    with pytest.raises(ValueError, match="v3"):
        Config(retired=("v3",))


def _render_each(sb: Sandbox) -> dict[str, tuple[str, str]]:
    """One accepted render per generation: generation -> (status path, id)."""
    made = _post(sb, "/open/product").json()["data"]
    _post(sb, "/open/project/render", {"project_id": made["prj_id"], "avatar_id": 37})
    pid1 = _post(sb, "/v1/product").json()["data"]["product_id"]
    prj1 = _post(sb, "/v1/create_video_from_url", v1_body(pid1, {"avatar_id": 37}, "n1")).json()["data"]
    pid2 = _post(sb, "/v2/product").json()["data"]["product_id"]
    vid = _post(sb, "/v2/create_video_from_product", {
        "product_id": pid2, "video_spec": {"length": "30"}, "avatar": {"id": 37}, "voice": {}, "audio": {},
        "script": {"style": "Data", "language": "english"}}).json()["data"]["video_id"]
    return {"open": ("/open/prj_info", made["prj_id"]), "v1": ("/v1/project", prj1["project_id"]),
            "v2": (f"/v2/product_video/{vid}", "")}


def _status(sb: Sandbox, path: str, ident: str) -> object:
    data = requests.get(sb.url + path, headers=H, params={"project_id": ident} if ident else None,
                        timeout=5).json()["data"]
    return data.get("status_code", data.get("status"))


def test_an_accepted_render_reads_status_1_for_a_while_then_moves_on():
    with Sandbox(Config(start_seconds=60.0, render_seconds=30.0, time_scale=60.0)) as sb:
        renders = _render_each(sb)
        early = {g: _status(sb, *where) for g, where in renders.items()}
        assert early == {"open": 1, "v1": 1, "v2": "pending"}
        assert sb.stats()["renders_accepted"] == 3
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            late = {g: _status(sb, *where) for g, where in renders.items()}
            if late == {"open": 4, "v1": 4, "v2": "completed"}:
                break
            time.sleep(0.2)
    assert late == {"open": 4, "v1": 4, "v2": "completed"}


def test_whoami_and_remaining_quota():
    with Sandbox(Config(credits=3)) as sb:
        who = requests.get(f"{sb.url}/v2/user/whoami", headers=H, timeout=5).json()
        quota = requests.get(f"{sb.url}/v2/user/remaining_quota", headers=H, timeout=5).json()
        v1 = requests.get(f"{sb.url}/v1/whoami", headers=H, timeout=5).json()
    assert (who["code"], who["msg"]) == (0, "Success") and who["data"]["email"] == "sandbox@example.com"
    assert quota["data"] == {"remaining_quota": 3} and v1["msg"] == "success"
    with Sandbox() as sb:
        unlimited = requests.get(f"{sb.url}/v2/user/remaining_quota", headers=H, timeout=5).json()
    assert unlimited["data"]["remaining_quota"] >= 1_000_000


def test_listen_queue_holds_the_connections_of_many_workers():
    # Bound and listening but not yet accepting: only the backlog holds connections (#15).
    sb = Sandbox()
    host, port = sb._server.server_address[:2]
    socks = []
    try:
        for _ in range(40):
            s = socket.socket()
            socks.append(s)
            s.settimeout(2.0)
            s.connect((host, port))  # with the default backlog of 5 the 7th SYN is dropped
    finally:
        for s in socks:
            s.close()
        sb._server.server_close()
    assert len(socks) == 40


def test_sandbox_command_realistic_and_retire_flags(spawn):
    proc = spawn([sys.executable, "-m", "jogg_flow", "sandbox", "--port", "0", "--realistic",
                             "--retire", "open", "--post-limit", "1"],
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stderr is not None
        url = proc.stderr.readline().split(" on ", 1)[1].split(" ", 1)[0]
        retired = requests.post(f"{url}/open/product", headers=H, json={}, timeout=5)
        unknown = requests.get(f"{url}/nowhere", headers=H, timeout=5)
        requests.post(f"{url}/v1/product", headers=H, json={"url": "https://s.example/p"}, timeout=5)
        limited = requests.post(f"{url}/v1/product", headers=H, json={"url": "https://s.example/p"}, timeout=5)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert retired.status_code == unknown.status_code == 404 and "<html>" in retired.text + unknown.text
    assert limited.status_code == 429 and "Retry-After" not in limited.headers
