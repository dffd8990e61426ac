"""A scripted HTTP server on 127.0.0.1 for server behaviour the sandbox does not model:
bare HTML pages, redirects, trickling or endless bodies, answers lost after a commit.

`Scripted(handler)` runs `handler(request) -> Reply | None` for every request and keeps
the log of what arrived (method, path, headers, body, arrival time)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float
    peer: int = 0  # the client's port: which connection the request came on
    raw: bytes = b""  # the body as it came (a PUT of a file's bytes is no JSON)


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None  # Content-Length to declare (default: len(body) for bytes)


def envelope(data: Any = None, code: int = 0, msg: str = "Success", status: int = 200,
             headers: dict[str, str] | None = None) -> Reply:
    """JoggAI's `{code, msg, data}` answer."""
    payload = json.dumps({"code": code, "msg": msg, "data": data, "rid": "r" * 32}).encode()
    return Reply(status, payload, {"Content-Type": "application/json", **(headers or {})})


DROP = Reply(status=-1)  # close the connection without answering


def always(reply: Reply) -> Callable[[Request], Reply]:
    """A handler that answers every request with `reply`."""
    return lambda request: reply


def _json(raw: bytes) -> Any:
    """The body as JSON; None when empty or not JSON (a file's bytes)."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


class Scripted:
    """Context manager: a ThreadingHTTPServer answering with `handler`."""

    def __init__(self, handler: Callable[[Request], Reply], host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.log: list[Request] = []
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers),
                              _json(raw), time.monotonic(), self.client_address[1], raw)
                outer.log.append(req)
                reply = outer.handler(req)
                if reply.status == -1:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(reply.status)
                body = reply.body
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if isinstance(body, bytes):
                    self.send_header("Content-Length", str(len(body) if reply.length is None else reply.length))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_header("Connection", "close")
                if reply.length is not None:
                    self.send_header("Content-Length", str(reply.length))
                self.end_headers()
                self.close_connection = True
                try:
                    for chunk in body:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except OSError:
                    pass  # the client gave up: that is the point

            do_GET = do_POST = do_PUT = _any

        self.server = ThreadingHTTPServer((host, 0), _H)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"

    def __enter__(self) -> Scripted:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self, path: str | None = None) -> list[Request]:
        """The POSTs received (to `path`, if given)."""
        return [r for r in self.log if r.method == "POST" and (path is None or r.path == path)]
