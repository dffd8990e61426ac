"""docs/webhooks.md's receiver, run as written: a signed JoggAI event for the lost render of a
v1 needs-check video (v1 offers no read that could settle it) adopts it through `jogg-flow
state adopt`; a forged one changes nothing; the next apply collects the render unpaid."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pathlib
import re
import socket
import sys
import time
import urllib.error
import urllib.request

from bench.campaigns import write_manifest
from jogg_flow.sandbox import Config, Fault, Sandbox
from jogg_flow.state import State
from tests.conftest import FAKE_KEY, ROOT

SECRET = "whsec_test_0123456789"


def _receiver_source() -> str:
    text = (ROOT / "docs" / "webhooks.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    return str(blocks[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(port: int, event: dict[str, object], secret: str = SECRET) -> int:
    body = json.dumps(event).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers={
        "Content-Type": "application/json", "X-Webhook-Event": str(event["event"]),
        "X-Webhook-Signature": signature, "User-Agent": "Jogg-Webhook/1.0"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the receiver did not start")


def test_the_documented_receiver_adopts_a_v1_needs_check_from_a_signed_event(run, tmp_path, spawn):
    receiver = tmp_path / "receiver.py"
    receiver.write_text(_receiver_source())
    faults = [Fault("drop_after_commit", "POST /v1/create_video_from_url", times=1)]
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0, post_limit=1000, faults=faults)) as sb:
        manifest = write_manifest(str(tmp_path), 2, "v1", name="hooked")
        state = str(tmp_path / "hooked.json")
        env = {"JOGG_API_KEY": FAKE_KEY}
        args = ("apply", manifest, "--api-base", sb.url, "--state", state, "--poll-interval", "0.1",
                "--poll-max", "0.2")
        assert run(*args, env=env).exit_code == 1
        key, record = next((k, r) for k, r in State.load(state).videos.items() if r["status"] == "needs-check")
        render_id = sb.stats()["renders_by_name"][record["marker"]][-1]
        port = _free_port()
        proc = spawn([sys.executable, str(receiver)], cwd=tmp_path, env={
            **os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT), "JOGG_WEBHOOK_SECRET": SECRET, "JOGG_API_KEY": FAKE_KEY,
            "JOGG_API_VERSION": "v1", "JOGG_API_BASE": sb.url, "JOGG_FLOW_MANIFEST": manifest,
            "JOGG_FLOW_STATE": state, "PORT": str(port)})
        _wait_for(port)
        event = {"event_id": "evt_1", "event": "generated_video_success", "timestamp": int(time.time()),
                 "data": {"project_id": render_id, "video_url": "https://res.jogg.ai/v.mp4", "duration": 30}}
        assert _post(port, event, secret="whsec_forged") == 401
        assert _post(port, {**event, "event_id": "evt_0", "data": {"project_id": "0" * 32}}) == 204
        assert State.load(state).videos[key]["status"] == "needs-check"
        assert _post(port, event) == 204
        for _ in range(600):  # the receiver adopts after answering
            if State.load(state).videos[key]["status"] != "needs-check":
                break
            time.sleep(0.05)
        proc.terminate()
        proc.wait(timeout=10)
        adopted = State.load(state).videos[key]
        assert adopted["status"] == "rendering" and adopted["project_id"] == render_id
        done = run(*args, env=env)
        assert done.exit_code == 0, done.stdout
        assert sb.stats()["renders_accepted"] == 2  # none rendered twice
    assert State.load(state).videos[key]["status"] == "succeeded"
