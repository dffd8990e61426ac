"""The one HTTP path, on requests Sessions (`jogg_flow.net.session`): exactly the headers
jogg-flow names go out, no cookie is ever sent back, nothing of the environment is read
per call, and a proxy's own failures keep the exactly-once rules. Real sockets on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import socket
import threading

import pytest
import requests

from jogg_flow import net
from jogg_flow.api import PostBudget
from jogg_flow.api.errors import OutcomeUnknown, TransportError
from jogg_flow.api.open import OpenClient
from jogg_flow.api.upload import put
from jogg_flow.errors import UsageError
from jogg_flow.feeds import fetch as fetch_module
from tests.conftest import FAKE_KEY
from tests.scripted import DROP, Scripted, envelope

ANSWER = json.dumps({"code": 0, "msg": "Success", "rid": "r" * 32,
                     "data": {"id": 1, "prj_id": "p" * 32, "status": 3, "progress": 5}}).encode()


class RawServer:
    """Records each request's head as it came off the socket (every header line, in order,
    duplicates kept) and answers every one with ANSWER and a cookie, kept alive."""

    def __init__(self) -> None:
        self.heads: list[list[str]] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                self.heads.append(lines)
                length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                               if line.lower().startswith("content-length:")), 0)
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Set-Cookie: session=abc123; Path=/\r\nSet-Cookie: other=1\r\n"
                             b"Content-Length: " + str(len(ANSWER)).encode() + b"\r\n\r\n" + ANSWER)

    def names(self, i: int) -> list[str]:
        """Request `i`'s header names, lower-cased, in the order sent."""
        return [line.split(":", 1)[0].lower() for line in self.heads[i][1:]]

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def raw():
    server = RawServer()
    yield server
    server.close()


def test_only_the_headers_jogg_flow_names_go_out_and_no_cookie_comes_back(raw, tmp_path, monkeypatch):
    """requests' own defaults (python-requests User-Agent, Accept: */*, Connection:
    keep-alive) never go out, nor a cookie an answer set, nor a ~/.netrc password."""
    (tmp_path / "netrc").write_text("machine 127.0.0.1 login someone password netrc-secret\n")
    (tmp_path / "netrc").chmod(0o600)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    fetch_module._fetched.clear()

    c = OpenClient(raw.url, FAKE_KEY, retries=0)
    c.project_info("p" * 32)
    c.project_info("p" * 32)
    c.create_product("https://shop.example/a")
    c.create_product("https://shop.example/b")
    put(raw.url + "/upload?X-Signature=s", b"JPEG", "image/jpeg", pause=lambda attempt: None)
    assert fetch_module.fetch(raw.url + "/feed.csv", loopback_http=True) == ANSWER
    with net.get(raw.url + "/v.mp4", deadline=10, max_bytes=10**6, headers={"Range": "bytes=5-"}) as answer:
        answer.read()
    c.close()

    read = ["host", "x-api-key", "user-agent", "accept", "accept-encoding"]
    post = read + ["content-type", "content-length"]
    expected = [read, read, post, post,
                ["host", "content-type", "user-agent", "content-length", "accept-encoding"],
                ["host", "user-agent", "accept-encoding"],
                ["host", "user-agent", "accept-encoding", "range"]]
    assert len(raw.heads) == len(expected)
    for i, names in enumerate(expected):
        assert sorted(raw.names(i)) == sorted(names), raw.heads[i]
    for head in raw.heads:
        text = "\r\n".join(head)
        assert "python-requests" not in text and "cookie" not in text.lower()
        assert "netrc-secret" not in text and "authorization" not in text.lower()
    assert "User-Agent: jogg-flow/" in "\r\n".join(raw.heads[0])
    assert "Accept: application/json" in raw.heads[0] and "Accept-Encoding: identity" in raw.heads[5]
    assert not any("x-api-key" in line.lower() for head in raw.heads[4:] for line in head)


def test_a_session_trusts_no_environment_and_keeps_no_cookie():
    session = net.session("https://api.example.com", 4)
    assert isinstance(session, requests.Session) and session.trust_env is False
    assert dict(session.headers) == {} and session.proxies == {}
    adapter = session.get_adapter("https://api.example.com/x")
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    assert adapter.max_retries.total == 0 and adapter.max_retries.read is False
    session.close()


def test_a_cut_answer_closes_its_connection_and_a_whole_one_is_kept_alive():
    big = {"n": 0}

    def answer(r):
        if r.path.endswith("prj_info") and r.query.get("project_id") == ["big"]:
            big["n"] += 1
            return envelope({"status": 3, "progress": 1, "pad": "x" * 5000})
        return envelope({"status": 3, "progress": 1})

    with Scripted(answer) as api:
        c = OpenClient(api.url, FAKE_KEY, retries=0, max_body=2000)
        c.project_info("p" * 32)
        c.project_info("p" * 32)
        with pytest.raises(TransportError, match="over the 2000-byte limit"):
            c.project_info("big")
        c.project_info("p" * 32)
        c.close()
    peers = [r.peer for r in api.log]
    assert peers[0] == peers[1] == peers[2], "whole answers release their connection for the next read"
    assert peers[3] != peers[2], "the cut answer's connection must not carry the next request"


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def test_a_proxy_refusing_the_connection_means_the_post_was_never_sent(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("NO_PROXY", "")
    budget = PostBudget(1, 60.0)
    c = OpenClient("http://api.example.com", FAKE_KEY, retries=2, sleep=lambda s: None,
                   budget=budget, allow_http=True)
    with pytest.raises(TransportError, match=r"cannot connect to http://api\.example\.com \(") as err:
        c.create_product("https://shop.example/a")  # three attempts through a budget of one
    assert not isinstance(err.value, OutcomeUnknown)
    assert budget._expiries == [] and budget._inflight == 0


def test_a_proxy_that_drops_the_post_leaves_its_outcome_unknown(monkeypatch):
    with Scripted(lambda r: DROP) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        c = OpenClient("http://api.example.com", FAKE_KEY, retries=3, sleep=lambda s: None, allow_http=True)
        with pytest.raises(OutcomeUnknown, match="may or may not have been carried out"):
            c.create_product("https://shop.example/a")
        assert len(proxy.posts()) == 1


def test_the_proxy_credentials_are_its_own_urls_and_nothing_else(monkeypatch, tmp_path):
    (tmp_path / "netrc").write_text("machine api.example.com login someone password netrc-secret\n")
    (tmp_path / "netrc").chmod(0o600)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    with Scripted(lambda r: envelope({"status": 3, "progress": 40})) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://pxuser:p%40ss@"))
        monkeypatch.setenv("NO_PROXY", "")
        c = OpenClient("http://api.example.com", FAKE_KEY, retries=0, allow_http=True)
        assert c.project_info("p" * 32).progress == 40
    (request,) = proxy.log
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["proxy-authorization"] == "Basic " + base64.b64encode(b"pxuser:p@ss").decode()
    assert "authorization" not in headers and "netrc-secret" not in repr(headers)


@pytest.mark.parametrize("key", [FAKE_KEY + "\n", " " + FAKE_KEY, FAKE_KEY[:8] + "\r\nX-Evil: 1"])
def test_a_key_no_header_can_carry_is_refused_before_any_request_and_never_shown(run, write, tmp_path, key):
    with pytest.raises(UsageError, match="a header cannot carry") as err:
        OpenClient("http://127.0.0.1:1", key)
    assert FAKE_KEY[:8] not in str(err.value)
    manifest = write("m.yaml", "version: 1\nproducts: [{key: a, url: 'https://shop.example/a'}]\n")
    with Scripted(lambda r: envelope({"avatars": []})) as api:
        result = run("apply", manifest, "--api-base", api.url, "--state", str(tmp_path / "s.json"),
                     env={"JOGG_API_KEY": key})
    assert result.exit_code == 3 and "a header cannot carry" in result.stderr
    assert FAKE_KEY[:8] not in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert api.log == []


def test_https_is_checked_against_the_ca_bundle_read_once_and_kept_alive(tmp_path, monkeypatch):
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    with Scripted(lambda r: envelope({"status": 3, "progress": 40})) as api:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        api.server.socket = context.wrap_socket(api.server.socket, server_side=True)
        url = api.url.replace("http://", "https://")
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            OpenClient(url, FAKE_KEY, retries=0).project_info("p" * 32)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        c = OpenClient(url, FAKE_KEY, retries=0)
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # read when the client was made
        assert c.project_info("p" * 32).progress == c.project_info("p" * 32).progress == 40
        c.close()
    assert len(api.log) == 2 and api.log[0].peer == api.log[1].peer


def test_a_socks_proxy_is_refused_in_one_line_before_any_request(run, write, tmp_path, monkeypatch):
    """requests takes a socks proxy only with PySocks, on connections without the deadline;
    urllib3 alone raised a traceback. Said at the start, without the proxy's password."""
    monkeypatch.setenv("HTTPS_PROXY", "socks5://someone:proxy-secret@127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    manifest = write("m.yaml", "version: 1\nproducts: [{key: a, url: 'https://shop.example/a'}]\n")
    result = run("apply", manifest, "--api-base", "https://api.example.com", "--state", str(tmp_path / "s.json"),
                 env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 3, result.stderr
    assert "(socks5://127.0.0.1) is not an http:// or https:// one" in result.stderr
    assert "proxy-secret" not in result.stderr + result.stdout and "Traceback" not in result.stderr
    with pytest.raises(net.NetError, match="not an http:// or https:// one"):
        net.get("https://files.example.com/v.mp4", deadline=5, max_bytes=10).__enter__()
