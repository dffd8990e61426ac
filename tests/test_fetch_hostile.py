"""URL feeds and `--download` against hostile file servers (issue 22, items 3, 4 and 9): no
credentials from ~/.netrc, no redirect followed, the deadline cut at the socket, a size cap
per file, and a partial answer that does not start where it was asked refused."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from jogg_flow.engine.download import download_all
from jogg_flow.feeds import fetch as fetch_module
from jogg_flow.feeds.fetch import FetchError, fetch
from jogg_flow.state import State

from .scripted import Reply, Scripted

BODY = bytes(range(256)) * 4
NETRC_PASSWORD = "netrc-password-5f1e"


@pytest.fixture(autouse=True)
def netrc(tmp_path, monkeypatch):
    """A ~/.netrc with a password for the scripted server's host (as a developer's or a
    runner's may have for another service on that host)."""
    path = tmp_path / "netrc"
    path.write_text(f"machine 127.0.0.1 login someone password {NETRC_PASSWORD}\n")
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    monkeypatch.setenv("HOME", str(tmp_path))
    fetch_module._fetched.clear()


def files(request):
    if request.path == "/moved.mp4" or request.path == "/moved.csv":
        return Reply(302, b"", {"Location": request.path.replace("moved", "real")})
    return Reply(200, BODY if request.path.endswith(".mp4") else b"handle,link\na-1,https://x.example/a\n")


def state_with(tmp_path, url):
    state = State.load(str(tmp_path / "s.json"))
    state.put("a", {"status": "succeeded", "outputs": {"video_url": url}})
    return state


def test_a_feed_fetch_carries_no_netrc_credentials(tmp_path):
    with Scripted(files) as server:
        assert fetch(f"{server.url}/feed.csv", loopback_http=True).startswith(b"handle,")
    (request,) = server.log
    assert "Authorization" not in request.headers
    assert NETRC_PASSWORD not in repr(request.headers)


def test_a_download_carries_no_netrc_credentials(tmp_path):
    events: list[Any] = []
    with Scripted(files) as server:
        assert download_all(state_with(tmp_path, f"{server.url}/v.mp4"), ["a"], str(tmp_path / "out"),
                            events.append) == 0
    (request,) = server.log
    assert "Authorization" not in request.headers
    assert (tmp_path / "out" / "a.mp4").read_bytes() == BODY


def test_a_feed_redirect_is_not_followed(tmp_path):
    with Scripted(files) as server, pytest.raises(FetchError) as err:
        fetch(f"{server.url}/moved.csv", loopback_http=True)
    assert str(err.value) == (f"{server.url}/moved.csv: HTTP 302 redirect to 127.0.0.1 not followed; "
                              "give the final address")
    assert [r.path for r in server.log] == ["/moved.csv"]


def test_a_download_redirect_to_plain_http_is_not_followed(tmp_path):
    """A download follows a redirect only on to https (a CDN in front of a file); never to http."""
    events: list[Any] = []
    with Scripted(files) as server:
        assert download_all(state_with(tmp_path, f"{server.url}/moved.mp4?sig=s3cr3t"), ["a"],
                            str(tmp_path / "out"), events.append) == 1
    assert [r.path for r in server.log] == ["/moved.mp4"]
    assert events[-1]["message"] == "/moved.mp4: HTTP 302 redirect to 127.0.0.1 not followed; give the final address"
    assert not (tmp_path / "out" / "a.mp4").exists()


class Drip:
    """A body of one byte every 50 ms for 20 s; `finished` once all of it was written."""

    def __init__(self) -> None:
        self.finished = False

    def __iter__(self):
        for _ in range(400):
            yield b"x"
            time.sleep(0.05)
        self.finished = True


def test_a_dripping_feed_is_cut_at_its_deadline_not_between_chunks():
    drip = Drip()
    with Scripted(lambda r: Reply(200, drip)) as server:
        with pytest.raises(FetchError, match=r"drip.csv: not complete after 0.5 s"):
            fetch(f"{server.url}/drip.csv", loopback_http=True, deadline=0.5)
        # Cut while the server was still sending (before, the whole drip was waited for).
        assert not drip.finished


def test_a_dripping_download_is_cut_at_its_deadline(tmp_path):
    drip = Drip()
    events: list[Any] = []
    with Scripted(lambda r: Reply(200, drip)) as server:
        assert download_all(state_with(tmp_path, f"{server.url}/v.mp4"), ["a"], str(tmp_path / "out"),
                            events.append, deadline=0.5) == 1
        assert not drip.finished
    assert events[-1]["message"] == "/v.mp4: not complete after 0.5 s"
    assert (State.load(str(tmp_path / "s.json")).get("a") or {}).get("downloads") in ({}, None)


def test_a_download_over_its_size_cap_is_refused(tmp_path):
    endless = (b"x" * 4096 for _ in range(10_000))
    events: list[Any] = []
    with Scripted(lambda r: Reply(200, BODY) if r.path == "/v.mp4" else Reply(200, endless)) as server:
        state = state_with(tmp_path, f"{server.url}/v.mp4")
        state.put("b", {"status": "succeeded", "outputs": {"video_url": f"{server.url}/endless.mp4"}})
        assert download_all(state, ["a", "b"], str(tmp_path / "out"), events.append,
                            max_bytes={"video": 1000}) == 2
    assert events[0]["message"] == "/v.mp4: larger than 1,000 bytes"
    assert events[1]["message"] == "/endless.mp4: larger than 1,000 bytes"
    assert not (tmp_path / "out" / "a.mp4").exists() and not (tmp_path / "out" / "b.mp4").exists()


def test_a_partial_answer_that_starts_elsewhere_is_refused_and_fetched_whole_next_time(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.mp4.part").write_bytes(BODY[:100])
    wrong = Reply(206, BODY[:924], {"Content-Range": "bytes 0-923/1024"})  # asked from byte 100
    events: list[Any] = []
    with Scripted(lambda r: wrong) as server:
        state = state_with(tmp_path, f"{server.url}/v.mp4")
        assert download_all(state, ["a"], str(out), events.append) == 1
    assert server.log[0].headers["Range"] == "bytes=100-"
    assert "refused, the next run fetches the file whole" in events[-1]["message"]
    assert not (out / "a.mp4").exists() and not (out / "a.mp4.part").exists()
    assert "downloads" not in state.get("a") or state.get("a")["downloads"] == {}
    with Scripted(lambda r: Reply(200, BODY)) as server:
        state.put("a", {"status": "succeeded", "outputs": {"video_url": f"{server.url}/v.mp4"}})
        assert download_all(state, ["a"], str(out), events.append) == 0
    assert "Range" not in server.log[0].headers
    assert (out / "a.mp4").read_bytes() == BODY


def test_a_feed_server_that_never_answers_is_cut_at_the_deadline():
    release = threading.Event()

    def silent(request):
        release.wait(30)  # holds the answer; the read timeout alone would wait 60 s
        return Reply(200, b"handle,link\n")

    with Scripted(silent) as server:
        try:
            with pytest.raises(FetchError, match=r"silent.csv: no answer within 0.5 s"):
                fetch(f"{server.url}/silent.csv", loopback_http=True, deadline=0.5)
        finally:
            release.set()


def test_no_api_request_carries_netrc_credentials(run, write, tmp_path):
    from tests.conftest import FAKE_KEY
    from tests.test_hostile_answers import OpenApi

    manifest = write("m.yaml", "version: 1\nproducts: [{key: a, url: 'https://shop.example/a'}]\n")
    with Scripted(OpenApi("https://cdn.example/v.mp4", None)) as api:
        result = run("apply", manifest, "--api-base", api.url, "--state", str(tmp_path / "s.json"),
                     "--post-rate", "20/1s", "--poll-interval", "0.05", env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 0, result.stderr
    assert len(api.log) >= 4
    assert not any("Authorization" in r.headers or NETRC_PASSWORD in repr(r.headers) for r in api.log)
