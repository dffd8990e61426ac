"""The sandbox's HTTP side: a threaded server on 127.0.0.1 speaking JoggAI's envelope."""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading
import time
import uuid
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import media, previews, uploads, v1, v2
from .backend import _BEFORE, MESSAGES, ApiFailure, Backend, Config, Fault, _is_code

HTML_404 = (b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
            b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n"
            b"</body>\r\n</html>\r\n")
# A gateway's refusals: JSON, but not JoggAI's envelope (no code, no rid).
BARE = {"bare_401": (401, {"message": "Unauthorized"}), "bare_403": (403, {"message": "Forbidden"})}
_ACCOUNT = ("GET /v1/whoami", "GET /v2/user/whoami", "GET /v2/user/remaining_quota")


class _NotServed(Exception):
    """No such route."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, a keep-alive client waits for
    # the delayed ACK (40 ms) on every request.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if parts.path.startswith("/files/"):
            return self._file(parts.path[len("/files/"):])
        if parts.path.startswith("/_sandbox/"):
            return self._private(method, parts.path, raw)
        if parts.path.startswith(("/_upload/", "/assets/")):
            return uploads.serve(self, self.server.sandbox.backend, method, parts.path,
                                 parse_qs(parts.query), raw)
        self.server.sandbox.serve_api(self, method, parts.path, parse_qs(parts.query), raw)

    def _file(self, name: str) -> None:
        """Rendered files, with Range support so downloads can resume."""
        if name.endswith(".mp4"):
            payload, ctype = media.mp4(), "video/mp4"
        elif name.endswith(".png"):
            payload, ctype = media.png(), "image/png"
        else:
            return self.send(404, b"not found", "text/plain")
        backend = self.server.sandbox.backend
        wanted = self.headers.get("Range", "")
        with backend.lock:
            backend.counters["files_served"] += 1
            backend.counters["range_requests"] += bool(wanted)
        if wanted.startswith("bytes=") and wanted[6:].rstrip("-").isdigit():
            start = int(wanted[6:].rstrip("-"))
            if start >= len(payload):
                return self.send(416, b"", ctype, {"Content-Range": f"bytes */{len(payload)}"})
            return self.send(206, payload[start:], ctype,
                             {"Content-Range": f"bytes {start}-{len(payload) - 1}/{len(payload)}"})
        self.send(200, payload, ctype)

    def _private(self, method: str, path: str, raw: bytes) -> None:
        backend = self.server.sandbox.backend
        if method == "GET" and path == "/_sandbox/stats":
            return self.send_json(200, backend.stats())
        if method == "POST" and path == "/_sandbox/faults":
            try:
                items = json.loads(raw or b"[]")
                faults = [Fault(**f) for f in (items if isinstance(items, list) else [items])]
            except (ValueError, TypeError) as err:
                return self.send_json(400, {"error": str(err)})
            with backend.lock:
                backend.faults.extend(faults)
            return self.send_json(200, {"faults": [asdict(f) for f in backend.faults]})
        self.send_json(404, {"error": "unknown sandbox path"})

    def send(self, status: int, payload: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(body).encode(), "application/json", headers)

    def drop(self) -> None:
        """Close the connection at once with a reset, sending nothing."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            self.connection.close()
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Every worker of a run may connect at once; the default backlog of 5 drops SYNs (#15).
    request_queue_size = 128
    sandbox: Sandbox

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, reset) is part of the game, not a server bug.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can
        # stall for seconds on machines without DNS; the name is not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class Sandbox:
    """The server: `with Sandbox(Config(...)) as sb: sb.url`."""

    def __init__(self, config: Config | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or Config()
        self.backend = Backend(self.config)
        self._server = _Server((host, port), _Handler)
        self._server.sandbox = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to give the client."""
        return f"http://{self._server.server_name}:{self._server.server_port}"

    def start(self) -> Sandbox:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="jogg-sandbox",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving and close the socket. Only a background thread needs telling: in
        the foreground `serve_forever` has returned (or, stopped by Ctrl-C before it began,
        never ran: shutting it down would wait for it for ever)."""
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_fault(self, fault: Fault) -> None:
        """Script another fault."""
        with self.backend.lock:
            self.backend.faults.append(fault)

    def stats(self) -> dict[str, Any]:
        """The counters `GET /_sandbox/stats` reports."""
        return self.backend.stats()

    def serve_api(self, h: _Handler, method: str, path: str, query: dict[str, list[str]],
                  raw: bytes) -> None:
        backend, cfg = self.backend, self.config
        route = f"{method} {path}"
        with backend.lock:
            backend.requests[route] += 1
        if cfg.latency:
            time.sleep(cfg.latency)
        if path.split("/", 2)[1] in cfg.retired:
            return h.send(404, HTML_404, "text/html")  # a retired generation: nothing answers
        fault = backend.pick_fault(route)
        if fault in _BEFORE or (fault and _is_code(fault)):
            return self._fault_before(h, fault)
        answer = self._answer(h, route, query, raw, fault)
        if answer is None:
            return
        body, status = answer
        if fault == "drop_after_commit":
            return h.drop()
        if fault == "slow":
            time.sleep(cfg.slow_seconds)
        if fault == "malformed":
            return h.send(200, b'{"rid": "x", "code": 0, "msg": "succ', "application/json")
        h.send_json(status, body)

    def _answer(self, h: _Handler, route: str, query: dict[str, list[str]], raw: bytes,
                fault: str | None) -> tuple[dict[str, Any], int] | None:
        """(envelope, HTTP status) for the request, or None when already answered."""
        cfg = self.config
        try:
            key = h.headers.get("x-api-key") or ""
            if not key or (cfg.api_keys is not None and key not in cfg.api_keys):
                raise ApiFailure(10105, http=cfg.auth_http_status)
            if route.startswith("POST "):
                wait = self.backend.admit_post(key)
                if wait is not None:
                    self._rate_limited(h, wait)
                    return None
            data = self._dispatch(route, query, raw, h, fault)
            return _env(0, "Success" if route.split(" ", 1)[1].startswith("/v2/") else "success", data), 200
        except ApiFailure as err:
            return _env(err.code, err.msg), err.http
        except _NotServed:
            if not cfg.html_404:
                return _env(10104, "Not Found"), 404
            h.send(404, HTML_404, "text/html")
            return None

    def _dispatch(self, route: str, query: dict[str, list[str]], raw: bytes, h: _Handler,
                  fault: str | None) -> Any:
        body = _json_body(raw)
        base = f"http://{h.headers.get('Host') or self.url.split('//', 1)[1]}"
        method, path = route.split(" ", 1)
        if method == "GET" and (listed := v2.catalog(path)) is not None:
            return listed
        if route in _ACCOUNT:
            return v1.account(self.backend, route)
        if route in uploads.ROUTES:
            return uploads.sign(self.backend, route, body, base)
        uploads.note_media(self.backend, route, body)
        if path.startswith("/v2/"):
            return self._dispatch_v2(route, query, body, base, fault)
        if path.startswith("/v1/"):
            return self._dispatch_v1(route, query, body, base, fault)
        if route == "POST /open/product":
            return self.backend.create_product(body, base)
        if route == "PUT /open/product":
            return self.backend.update_product(body)
        if route == "POST /open/project/render":
            return self.backend.render(body, fault)
        if route == "GET /open/prj_info":
            return self.backend.project_info((query.get("project_id") or [""])[0], base)
        raise _NotServed

    def _dispatch_v1(self, route: str, query: dict[str, list[str]], body: dict[str, Any], base: str,
                     fault: str | None) -> Any:
        backend = self.backend
        if route == "POST /v1/product":  # v1 and v2 products are the same account's products
            return v2.create_product(backend, body)
        if route == "PUT /v1/product":
            return v2.update_product(backend, body)
        if route == "POST /v1/create_video_from_url":
            return v1.create_video(backend, body, fault)
        if route == "GET /v1/project":
            return v1.project(backend, (query.get("project_id") or [""])[0], base)
        raise _NotServed

    def _dispatch_v2(self, route: str, query: dict[str, list[str]], body: dict[str, Any], base: str,
                     fault: str | None) -> Any:
        backend = self.backend
        if route == "POST /v2/product":
            return v2.create_product(backend, body)
        if route == "PUT /v2/product":
            return v2.update_product(backend, body)
        if route == "POST /v2/create_video_from_product":
            return v2.create_video(backend, body, fault)
        if route == "GET /v2/product_videos":
            return v2.product_videos(backend, query, base)
        if route == "POST /v2/create_video_from_product/preview_list":
            return previews.preview_list(backend, body, fault)
        if route == "POST /v2/create_video_from_product/render_single_preview":
            return previews.render_single_preview(backend, body, fault)
        if route == "GET /v2/product_previews":
            return previews.product_previews(backend, query, base)
        if route.startswith("GET /v2/product_video/"):
            return v2.product_video(backend, route.rsplit("/", 1)[1], base)
        raise _NotServed

    def _rate_limited(self, h: _Handler, wait: float) -> None:
        """429 with JoggAI's documented body; realistic mode gives no hint of when to retry."""
        hint = {"Retry-After": f"{max(wait, 0.001):.3f}"} if self.config.retry_hint else None
        h.send_json(429, _env(429, MESSAGES[429]), hint)

    def _fault_before(self, h: _Handler, fault: str) -> None:
        if _is_code(fault):
            code = int(fault[5:])
            h.send_json(200, _env(code, MESSAGES.get(code, "error")))
        elif fault == "http_500":
            h.send_json(500, _env(50000, MESSAGES[50000]))
        elif fault == "rate_429":
            self._rate_limited(h, 5.0 / self.config.time_scale)  # five API seconds
        elif fault == "html_502":
            h.send(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
        elif fault == "html_404":
            h.send(404, HTML_404, "text/html")
        elif fault in BARE:
            status, body = BARE[fault]
            h.send_json(status, body)
        else:
            h.drop()


def _json_body(raw: bytes) -> dict[str, Any]:
    """A request's JSON object (none: empty), or 40000 as JoggAI answers."""
    body: Any = {}
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiFailure(40000, "Parameter error: body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiFailure(40000, "Parameter error: body must be an object")
    return body


def _env(code: int, msg: str, data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"rid": uuid.uuid4().hex, "code": code, "msg": msg}
    if data is not None or code != 0:
        body["data"] = data
    return body
