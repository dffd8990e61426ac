"""Downloads against small scripted file servers: restarts, short bodies, skips."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from jogg_flow.download import download_all
from jogg_flow.state import State

BODY = bytes(range(256)) * 4


class _NoRanges(BaseHTTPRequestHandler):
    """Ignores Range and sends the whole file; `/short` promises more than it sends."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY) + (10 if self.path == "/short.mp4" else 0)))
        self.end_headers()
        self.wfile.write(BODY)
        self.close_connection = True


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NoRanges)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def state_with(tmp_path, video_url):
    state = State.load(str(tmp_path / "s.json"))
    state.put("a", {"status": "succeeded", "outputs": {"video_url": video_url}})
    return state


def test_a_server_without_ranges_restarts_the_file(server, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.mp4.part").write_bytes(b"stale bytes")
    events = []
    failed = download_all(state_with(tmp_path, f"{server}/v.mp4"), ["a"], str(out), events.append)
    assert failed == 0
    assert (out / "a.mp4").read_bytes() == BODY
    assert events[-1]["status"] == "downloaded" and events[-1]["bytes"] == len(BODY)


def test_a_short_body_fails_and_keeps_the_part_for_next_time(server, tmp_path):
    out = tmp_path / "out"
    events = []
    failed = download_all(state_with(tmp_path, f"{server}/short.mp4"), ["a"], str(out), events.append)
    assert failed == 1 and events[-1]["status"] == "failed"
    assert not (out / "a.mp4").exists() and (out / "a.mp4.part").exists()


def test_only_succeeded_videos_are_fetched(tmp_path):
    state = State.load(str(tmp_path / "s.json"))
    state.put("a", {"status": "rendering", "outputs": {}})
    events = []
    assert download_all(state, ["a", "missing"], str(tmp_path), events.append,
                        session=requests.Session()) == 0
    assert events == []
