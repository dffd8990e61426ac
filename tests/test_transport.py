"""The transport against hostile or broken servers (scripted on 127.0.0.1): the key goes
only where it should, every read ends, every wait can be cut short, and a 4xx that is not
JoggAI's is a definite error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from email.utils import formatdate

import pytest

from jogg_flow.api import PostBudget
from jogg_flow.api.errors import (
    NotServed,
    OutcomeUnknown,
    ParameterError,
    Redirected,
    Refused,
    TransportError,
)
from jogg_flow.api.http import HttpClient, check_base
from jogg_flow.api.open import OpenClient
from jogg_flow.api.v2 import V2Client
from jogg_flow.errors import UsageError
from tests.conftest import FAKE_KEY
from tests.scripted import Reply, Scripted, always, envelope

PRODUCT = {"id": 7, "prj_id": "p" * 32}


def client(url: str, **kw) -> OpenClient:
    kw.setdefault("retries", 0)
    return OpenClient(url, FAKE_KEY, **kw)


def test_plain_http_to_another_machine_is_refused_without_the_flag():
    with pytest.raises(UsageError, match="plain http.*--allow-http"):
        HttpClient("http://api.example.com", FAKE_KEY)
    assert check_base("http://proxy.internal:8080/", allow_http=True) == "http://proxy.internal:8080"
    for local in ("http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "https://api.jogg.ai"):
        HttpClient(local, FAKE_KEY)


def test_plain_http_refused_through_the_cli(run, write, tmp_path):
    manifest = write("m.yaml", "version: 1\nproducts: [{key: a, url: 'https://shop.example/a'}]\n")
    result = run("apply", manifest, "--api-base", "http://api.example.com", "--state",
                 str(tmp_path / "s.json"), env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 3 and "--allow-http" in result.stderr
    assert FAKE_KEY not in result.stderr + result.stdout


def test_a_redirect_to_another_host_is_not_followed_with_the_key():
    with Scripted(lambda r: envelope(PRODUCT), host="127.0.0.2") as other, \
            Scripted(lambda r: Reply(307, b"", {"Location": other.url + r.path})) as first:
        with pytest.raises(Redirected, match=r"307 redirect to 127\.0\.0\.2 not followed"):
            client(first.url).create_product("https://shop.example/p")
        assert other.log == [] and len(first.log) == 1


def test_a_trickling_answer_is_cut_at_the_total_deadline():
    def trickle(_r):
        def body():
            for _ in range(120):
                yield b" "
                time.sleep(1.0)
        return Reply(200, body(), {"Content-Type": "application/json"}, length=120)

    with Scripted(trickle) as server:
        c = client(server.url, timeout=(1.0, 2.0))
        started = time.monotonic()
        with pytest.raises(TransportError, match="no complete answer"):
            c.project_info("x")
        with pytest.raises(OutcomeUnknown, match="no complete answer"):
            c.create_product("https://shop.example/p")
        # Without a total deadline each read took 120 s (every byte inside the 2 s socket timeout).
        assert time.monotonic() - started < 60


def test_a_huge_answer_is_cut_at_the_size_limit():
    def huge(r):
        chunks = (b"x" * 65536 for _ in range(200))  # 13 MB, no Content-Length
        return Reply(200, chunks, {"Content-Type": "application/json"})

    with Scripted(huge) as server:
        with pytest.raises(TransportError, match="limit"):
            client(server.url, max_body=2**20).project_info("x")
    declared = Reply(200, b"{}", {"Content-Type": "application/json"}, length=10**10)
    with Scripted(lambda r: declared) as server:
        with pytest.raises(TransportError, match="over the"):
            client(server.url).project_info("x")


@pytest.mark.parametrize("status", [401, 403])
def test_a_gateway_4xx_is_definite_shows_its_words_and_is_not_retried(status):
    page = b"<html><head><title>Forbidden</title></head><body><h1>Access denied by gateway</h1></body></html>"
    with Scripted(lambda r: Reply(status, page, {"Content-Type": "text/html"})) as server:
        c = client(server.url, retries=5, sleep=lambda s: None)
        with pytest.raises(Refused) as err:
            c.create_product("https://shop.example/p")
        assert not isinstance(err.value, OutcomeUnknown)
        assert f"HTTP {status}" in str(err.value) and "Access denied by gateway" in str(err.value)
        assert "\n" not in str(err.value) and "<" not in str(err.value)
        assert len(server.log) == 1


def test_a_bare_404_names_the_generation_and_base_url():
    page = b"<!DOCTYPE html><html><body>404 page not found</body></html>"
    with Scripted(lambda r: Reply(404, page, {"Content-Type": "text/html"})) as server:
        c = V2Client(server.url, FAKE_KEY, retries=5, sleep=lambda s: None)
        with pytest.raises(NotServed) as err:
            c.project_info("v")
        assert f"api.version v2 is not served at {server.url}?" in str(err.value)
        assert "404 page not found" in str(err.value) and len(server.log) == 1


def test_malformed_2xx_and_5xx_stay_outcome_unknown_for_a_post():
    for reply in (Reply(200, b"<html>ok</html>"), Reply(502, b"Bad gateway")):
        with Scripted(always(reply)) as server:
            with pytest.raises(OutcomeUnknown):
                client(server.url, sleep=lambda s: None).create_product("https://shop.example/p")


def test_error_text_from_message_and_the_key_redacted():
    def echo(r):
        return envelope(None, code=40000, msg="", status=400) if r.path.endswith("prj_info") else \
            Reply(400, (b'{"code": 40000, "message": "bad header x-api-key: ' + FAKE_KEY.encode()
                        + b'"}'), {"Content-Type": "application/json"})
    with Scripted(echo) as server:
        with pytest.raises(ParameterError) as err:
            client(server.url).create_product("https://shop.example/p")
        assert "bad header x-api-key" in str(err.value) and FAKE_KEY not in str(err.value)
        assert "[redacted]" in str(err.value)


def test_product_creation_gets_a_longer_read_timeout():
    def slow(r):
        time.sleep(1.2)
        return envelope(PRODUCT) if r.path == "/open/product" else envelope({"status": 1})

    with Scripted(slow) as server:
        c = client(server.url, timeout=(1.0, 0.5))
        assert c.create_product("https://shop.example/p") == (7, "p" * 32)
        with pytest.raises(TransportError):
            c.project_info("x")


def _arrivals_after_a_429(reply_429: Reply, window: float) -> tuple[float, list[float]]:
    """Two workers POST through one budget; the first POST meets `reply_429`. Returns the
    time of the 429 and the arrival times of the POSTs after it."""
    first = threading.Event()

    def handler(r):
        if not first.is_set():
            first.set()
            return reply_429
        return envelope(PRODUCT)

    with Scripted(handler) as server:
        c = client(server.url, retries=3, budget=PostBudget(100, window))
        workers = [threading.Thread(target=c.create_product, args=(f"https://shop.example/{i}",))
                   for i in range(2)]
        workers[0].start()
        first.wait(10)
        time.sleep(0.05)
        workers[1].start()
        for w in workers:
            w.join(30)
        times = [r.at for r in server.log]
    return times[0], times[1:]


def test_a_429_without_any_hint_pauses_every_worker_for_the_whole_window():
    body = b'{"code":429,"msg":"Rate limit exceeded. Please try again later.","data":null}'
    at, later = _arrivals_after_a_429(Reply(429, body, {"Content-Type": "application/json"}), 2.0)
    assert len(later) == 2
    assert min(later) - at >= 1.9  # before: the backoff, about 0.5 s, and the other worker not at all


def test_retry_after_as_an_http_date_is_read():
    when = formatdate(time.time() + 3, usegmt=True)
    at, later = _arrivals_after_a_429(envelope(None, code=429, msg="slow down", status=429,
                                               headers={"Retry-After": when}), 60.0)
    assert min(later) - at >= 1.5


def test_retry_after_of_a_day_is_capped_at_two_windows():
    at, later = _arrivals_after_a_429(envelope(None, code=429, status=429,
                                               headers={"Retry-After": "86400"}), 0.5)
    assert len(later) == 2 and max(later) - at < 20


def test_v2_base_written_with_its_v2_suffix_is_not_doubled():
    assert V2Client("https://api.jogg.ai/v2/", FAKE_KEY).base_url == "https://api.jogg.ai"


def test_sigterm_during_a_budget_wait_exits_promptly_with_130(write, tmp_path):
    def handler(r):
        if r.method == "POST":
            return envelope(None, code=429, msg="Rate limit", status=429, headers={"Retry-After": "86400"})
        return envelope({"avatars": []})

    manifest = write("m.yaml", "version: 1\nproducts: [{key: a, url: 'https://shop.example/a'}]\n")
    with Scripted(handler) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jogg_flow", "apply", manifest, "--api-base", server.url,
             "--state", str(tmp_path / "s.json"), "--output", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "JOGG_API_KEY": FAKE_KEY})
        deadline = time.monotonic() + 30
        while not server.posts() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # now waiting on the paused budget (capped at 2 windows: 120 s)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert time.monotonic() - sent < 15 and "Traceback" not in err


def test_a_server_echoing_the_key_never_gets_it_printed_or_stored(run, write, tmp_path):
    def echo(r):
        if r.path == "/open/avatar":
            return envelope({"avatars": []})
        if r.path == "/open/product":
            return envelope({"id": 1, "prj_id": "P" * 32})
        return envelope(None, code=40000, msg=f"Parameter error: key {r.headers['x-api-key']} has no avatar",
                        status=400)

    manifest = write("m.yaml", "version: 1\nproducts: [{key: a, url: 'https://shop.example/a'}]\n")
    state = tmp_path / "s.json"
    with Scripted(echo) as server:
        result = run("apply", manifest, "--api-base", server.url, "--state", str(state), "-v",
                     env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 1 and "has no avatar" in result.stdout + result.stderr
    for text in (result.stdout, result.stderr, state.read_text(),
                 state.with_name(state.name + ".journal").read_text() if
                 state.with_name(state.name + ".journal").exists() else ""):
        assert FAKE_KEY not in text


def test_headers_trickled_a_byte_a_second_are_cut_at_the_total_deadline():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(120):
                    conn.sendall(b"a")
                    time.sleep(1.0)
            except OSError:
                pass
            finally:
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        c = client(url, timeout=(1.0, 2.0))
        started = time.monotonic()
        with pytest.raises(TransportError, match="within the request timeout"):
            c.project_info("x")
        with pytest.raises(OutcomeUnknown):
            c.create_product("https://shop.example/p")
        assert time.monotonic() - started < 40  # each read took 120 s without the deadline
    finally:
        listener.close()


def test_the_proxy_variables_are_read_once_and_still_obeyed(monkeypatch):
    # requests no longer walks the environment per request (#15): what it read at start
    # still sends a call through HTTP_PROXY, and NO_PROXY still exempts a host.
    with Scripted(lambda r: envelope({"status": 3, "progress": 40})) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        c = client("http://api.example.com", allow_http=True)
        monkeypatch.delenv("HTTP_PROXY")
        assert c.project_info("p" * 32).progress == 40
        assert proxy.log[0].path.startswith("/open/prj_info")
        assert proxy.log[0].headers["Host"] == "api.example.com"
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with Scripted(lambda r: envelope({"status": 3, "progress": 50})) as direct:
            assert client(direct.url).project_info("p" * 32).progress == 50
            assert len(direct.log) == 1 and len(proxy.log) == 1


def test_a_base_with_a_path_keeps_it_on_the_direct_pool():
    # Calls go to the host's pool by path (#15): the base's own path must stay in front.
    with Scripted(lambda r: envelope({"status": 3, "progress": 10})) as gateway:
        assert client(gateway.url + "/gateway/").project_info("p" * 32).progress == 10
        assert gateway.log[0].path == "/gateway/open/prj_info"


def test_posts_never_ride_a_kept_alive_connection():
    """Reads share a kept-alive connection; each POST opens its own, so a connection the
    server closed while idle can never turn a render into an unknown outcome."""
    def answer(r):
        if r.path.endswith("/product"):
            return envelope({"id": 1, "prj_id": "p" * 32})
        return envelope({"status": 3, "progress": 10})

    with Scripted(answer) as api:
        c = client(api.url)
        c.project_info("p" * 32)
        c.project_info("p" * 32)
        c.create_product("https://shop.example/a")
        c.create_product("https://shop.example/b")
        c.project_info("p" * 32)
        c.close()
    reads = {r.peer for r in api.log if r.method == "GET"}
    posts = [r.peer for r in api.log if r.method == "POST"]
    assert len(reads) == 1, "reads should keep one connection alive"
    assert len(set(posts)) == 2 and not set(posts) & reads
