"""URL feeds against a scripted server on 127.0.0.1: fetched once, bounded in size and time,
https only (plain http on loopback only through the tests' own switch)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jogg_flow.feeds import fetch as fetch_module
from jogg_flow.feeds.fetch import FetchError, fetch

BODY = b"handle,link\na-1,https://shop.example.com/a-1\n"


class _Feed(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Feed.hits.append(self.path)
        if self.path == "/missing.csv":
            self.send_response(404)
            self.end_headers()
            return
        body = BODY * (5000 if self.path == "/huge.csv" else 1)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) * (20 if self.path == "/drip.csv" else 1)))
        self.end_headers()
        try:
            for _ in range(20 if self.path == "/drip.csv" else 1):
                self.wfile.write(body)
                self.wfile.flush()
                if self.path == "/drip.csv":
                    time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Feed.hits.clear()
    fetch_module._fetched.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_feed_is_fetched_once_per_command(server):
    assert fetch(f"{server}/feed.csv", loopback_http=True) == BODY
    assert fetch(f"{server}/feed.csv", loopback_http=True) == BODY
    assert _Feed.hits == ["/feed.csv"]


def test_plain_http_is_refused_without_the_test_switch(server):
    with pytest.raises(FetchError, match="feeds are fetched over https only"):
        fetch(f"{server}/feed.csv")
    assert _Feed.hits == []


def test_a_feed_over_the_size_limit_is_refused(server, monkeypatch):
    monkeypatch.setattr(fetch_module, "MAX_BYTES", 100_000)
    with pytest.raises(FetchError, match=r"huge.csv: larger than 100,000 bytes"):
        fetch(f"{server}/huge.csv", loopback_http=True)


def test_an_http_error_is_one_line(server):
    with pytest.raises(FetchError, match=r"missing.csv: HTTP 404"):
        fetch(f"{server}/missing.csv", loopback_http=True)


def test_a_feed_that_drips_is_given_up_at_the_deadline(server):
    with pytest.raises(FetchError, match=r"drip.csv: not complete after 0.3 s"):
        fetch(f"{server}/drip.csv", loopback_http=True, deadline=0.3)
