"""Downloads against small scripted file servers: restarts, short bodies, skips."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jogg_flow.engine.download import download_all
from jogg_flow.engine.events import fields
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
    events: list[dict[str, Any]] = []
    failed = download_all(state_with(tmp_path, f"{server}/v.mp4"), ["a"], str(out), lambda e: events.append(fields(e)))
    assert failed == 0
    assert (out / "a.mp4").read_bytes() == BODY
    assert events[-1]["status"] == "downloaded" and events[-1]["bytes"] == len(BODY)


def test_a_short_body_fails_and_keeps_the_part_for_next_time(server, tmp_path):
    out = tmp_path / "out"
    events: list[dict[str, Any]] = []
    failed = download_all(state_with(tmp_path, f"{server}/short.mp4"), ["a"], str(out), lambda e: events.append(fields(e)))
    assert failed == 1 and events[-1]["status"] == "failed"
    assert not (out / "a.mp4").exists() and (out / "a.mp4.part").exists()


def test_only_succeeded_videos_are_fetched(tmp_path):
    state = State.load(str(tmp_path / "s.json"))
    state.put("a", {"status": "rendering", "outputs": {}})
    events: list[dict[str, Any]] = []
    assert download_all(state, ["a", "missing"], str(tmp_path), lambda e: events.append(fields(e))) == 0
    assert events == []


@pytest.mark.parametrize("key", ["../../../escaped", "/tmp/abs", "a/../../x", "a/b/c", "..", ".hidden", "a\n"])
def test_a_tampered_key_never_writes_outside_the_directory(key, server, tmp_path):
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    state = State.load(str(tmp_path / "s.json"))
    state.put(key, {"status": "succeeded", "outputs": {"video_url": f"{server}/v.mp4"}})
    events: list[dict[str, Any]] = []
    assert download_all(state, [key], str(out), lambda e: events.append(fields(e))) == 1
    assert events[-1]["status"] == "failed" and "refusing to write" in events[-1]["message"]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "s.json"
               and not p.name.startswith("s.json")]
    assert written == []


def test_a_symlink_planted_in_the_directory_is_not_followed(server, tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "p").symlink_to(elsewhere)  # for the variant p/v
    (out / "a.mp4.part").symlink_to(elsewhere / "victim")  # a partial file that is a link
    state = State.load(str(tmp_path / "s.json"))
    for key in ("p/v", "a"):
        state.put(key, {"status": "succeeded", "outputs": {"video_url": f"{server}/v.mp4"}})
    events: list[dict[str, Any]] = []
    assert download_all(state, ["p/v", "a"], str(out), lambda e: events.append(fields(e))) == 2
    assert "leads outside" in events[0]["message"]
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("outputs", [{"video_url": ["http://x/a.mp4"]}, {"video_url": 7},
                                     {"cover_url": {"u": 1}}, ["not", "a", "mapping"]])
def test_a_tampered_url_is_a_per_video_error(outputs, tmp_path):
    state = State.load(str(tmp_path / "s.json"))
    state.put("a", {"status": "succeeded", "outputs": outputs, "downloads": "junk"})
    events: list[dict[str, Any]] = []
    failed = download_all(state, ["a"], str(tmp_path / "out"), lambda e: events.append(fields(e)))
    assert failed == (0 if isinstance(outputs, list) else 1)
    assert all("not a URL" in e["message"] for e in events)


@pytest.mark.parametrize("url", ["https://[x/a.mp4", "file:///etc/passwd", "https://x.example/a\n.mp4",
                                 "https://x.example:99999/a.mp4"])
def test_a_url_that_is_not_plain_http_is_a_per_video_error_not_a_crash(url, tmp_path):
    events: list[dict[str, Any]] = []
    assert download_all(state_with(tmp_path, url), ["a"], str(tmp_path / "out"),
                        lambda e: events.append(fields(e))) == 1
    assert events[-1]["status"] == "failed"
