"""The sandbox's uploads: JoggAI's upload POSTs, and the storage service behind its signed URLs.

`POST /v2/upload/asset {filename, content_type, file_size?}` answers `{sign_url, asset_url}`,
`POST /v1/upload/asset {filename}` answers `{sign_url, asset_id}` (the URL), G0's
`POST /open/upload/sign {filetype, filename, use_to}` answers `{sign_url, full_path, key}`
(JoggAI's UploadMedia guides and G0's spec). The signed URL is on the sandbox's own address,
`/_upload/TOKEN?X-Amz-Signature=…`, and behaves as a storage service's would: a PUT there
stores the bytes only with the right signature and the Content-Type it was signed for
(the file's MIME type under v2 and G0, `application/octet-stream` under v1), only as many bytes
as `file_size` said, and never with an API key (S3 expects no second credential: 403). The
asset URL, `/assets/TOKEN/NAME`, then serves the bytes.

Faults match `PUT /_upload/TOKEN` as they match API routes (`reset_before` and `http_500`:
nothing stored; `drop_after_commit`: stored, answer lost; `slow`). Counters say what a test
needs: uploads signed and stored, PUTs that carried a key, and product updates naming an
asset URL whose bytes never arrived (`upload_media_unstored`: must stay 0).
"""

from __future__ import annotations

import hashlib
import posixpath
import time
import uuid
from email.message import Message
from typing import Any, Protocol
from urllib.parse import quote, unquote

from .backend import ApiFailure, Backend


class Handler(Protocol):
    """What of the server's request handler the storage side uses."""

    headers: Message

    def send(self, status: int, payload: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        """Answer."""

    def drop(self) -> None:
        """Close the connection, answering nothing."""

ROUTES = ("POST /v2/upload/asset", "POST /v1/upload/asset", "POST /open/upload/sign")
_PRODUCT_UPDATES = ("PUT /v2/product", "PUT /v1/product", "PUT /open/product")
_OCTET = "application/octet-stream"
_XML = "application/xml"


def _bad(name: str) -> ApiFailure:
    return ApiFailure(40000, f"Parameter error: {name}")


def _filename(body: dict[str, Any]) -> str:
    name = body.get("filename")
    if not isinstance(name, str) or not name:
        raise _bad("filename is required")
    if "." not in posixpath.basename(name):
        raise _bad("filename must carry its extension")
    return name


def sign(backend: Backend, route: str, body: dict[str, Any], base: str) -> dict[str, Any]:
    """One upload POST: a token, its signed URL and the URL the file will have."""
    name = _filename(body)
    size: int | None = None
    if route == "POST /v2/upload/asset":
        mime = body.get("content_type")
        if not isinstance(mime, str) or not mime:
            raise _bad("content_type is required")
        raw_size = body.get("file_size")
        if raw_size is not None and (not isinstance(raw_size, int) or isinstance(raw_size, bool)
                                     or raw_size < 0):
            raise _bad("file_size is invalid")
        size = raw_size
    elif route == "POST /open/upload/sign":
        mime = body.get("filetype")
        for field in ("filetype", "use_to"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise _bad(f"{field} is required")
        assert isinstance(mime, str)
    else:
        mime = _OCTET  # v1 signs for application/octet-stream
    token = uuid.uuid4().hex
    signature = hashlib.sha256(f"{token}:{uuid.uuid4().hex}".encode()).hexdigest()
    asset = f"{base}/assets/{token}/{quote(posixpath.basename(name))}"
    with backend.lock:
        backend.uploads[token] = {"filename": name, "signed_type": mime, "file_size": size,
                                  "signature": signature, "asset_url": asset, "stored": False,
                                  "created_at": int(time.time())}
        backend.counters["uploads_signed"] += 1
        backend.changed("uploads", token)
    sign_url = f"{base}/_upload/{token}?X-Amz-Expires=900&X-Amz-Signature={signature}"
    if route == "POST /v2/upload/asset":
        return {"sign_url": sign_url, "asset_url": asset}
    if route == "POST /v1/upload/asset":
        return {"sign_url": sign_url, "asset_id": asset}
    return {"sign_url": sign_url, "full_path": asset, "key": f"media/{token}/{posixpath.basename(name)}"}


def serve(h: Handler, backend: Backend, method: str, path: str, query: dict[str, list[str]],
          raw: bytes) -> None:
    """`PUT /_upload/TOKEN` (the storage side) and `GET /assets/TOKEN/NAME`."""
    if method == "GET" and path.startswith("/assets/"):
        token = path.split("/")[2]
        with backend.lock:
            meta, data = backend.uploads.get(token), backend.upload_bytes.get(token)
        if meta is None or data is None:
            return h.send(404, b"not found", "text/plain")
        return h.send(200, data, meta.get("content_type") or _OCTET)
    if method != "PUT" or not path.startswith("/_upload/"):
        return h.send(405, _error("MethodNotAllowed"), _XML)
    token = path[len("/_upload/"):]
    fault = backend.pick_fault(f"PUT /_upload/{token}")
    if fault == "reset_before":
        return h.drop()
    if fault == "http_500":
        return h.send(500, _error("InternalError"), _XML)
    problem = _refusal(backend, h, token, query, raw)
    if problem is not None:
        status, code = problem
        return h.send(status, _error(code), _XML)
    with backend.lock:
        meta = backend.uploads[token]
        meta.update(stored=True, size=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
                    content_type=h.headers.get("Content-Type") or _OCTET)
        backend.upload_bytes[token] = raw
        backend.counters["uploads_stored"] += 1
        backend.changed("uploads", token)
    if fault == "drop_after_commit":
        return h.drop()
    if fault == "slow":
        time.sleep(backend.config.slow_seconds)
    h.send(200, b"", _XML, {"ETag": f'"{hashlib.md5(raw).hexdigest()}"'})  # noqa: S324 - S3's ETag


def _refusal(backend: Backend, h: Handler, token: str, query: dict[str, list[str]],
             raw: bytes) -> tuple[int, str] | None:
    """(HTTP status, S3 error code) for a PUT the storage service would refuse, else None."""
    headers = {k.lower() for k in h.headers}
    if headers & {"x-api-key", "authorization"}:
        with backend.lock:
            backend.counters["upload_puts_with_key"] += 1
        return 403, "AccessDenied"
    with backend.lock:
        meta = backend.uploads.get(token)
    if meta is None or (query.get("X-Amz-Signature") or [""])[0] != meta["signature"]:
        return 403, "SignatureDoesNotMatch"
    if (h.headers.get("Content-Type") or "") != meta["signed_type"]:
        return 403, "SignatureDoesNotMatch"  # the type is part of what was signed
    if meta["file_size"] is not None and len(raw) != meta["file_size"]:
        return 400, "IncompleteBody" if len(raw) < meta["file_size"] else "EntityTooLarge"
    return None


def note_media(backend: Backend, route: str, body: dict[str, Any]) -> None:
    """Count a product update that names one of this sandbox's asset URLs whose bytes never
    arrived: a client must give a product only files it has uploaded."""
    if route not in _PRODUCT_UPDATES:
        return
    medias = body.get("media") if "media" in body else body.get("intro_medias")
    for media in medias if isinstance(medias, list) else []:
        url = media.get("url") if isinstance(media, dict) else None
        if not isinstance(url, str) or "/assets/" not in url:
            continue
        token = unquote(url.split("/assets/", 1)[1]).split("/", 1)[0]
        with backend.lock:
            meta = backend.uploads.get(token)
            if meta is not None and not meta.get("stored"):
                backend.counters["upload_media_unstored"] += 1


def _error(code: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{code}</Message></Error>").encode()
