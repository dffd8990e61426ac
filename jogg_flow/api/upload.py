"""The second half of an upload: the file's bytes PUT to the signed storage URL JoggAI gave.

The signed URL is a storage service's, not JoggAI's: nothing of ours travels there (no API
key, no header of the client's), only the bytes, their type and our User-Agent. It may carry
its signature in the query, so it is never printed whole (`shown`) and never kept: the
state keeps only the file's hosted URL. A PUT is idempotent: a transient failure is tried
again on the same URL; any other failure is an `UploadFailed` for the video, and the file is
uploaded afresh on the next apply (an upload costs nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .. import __version__
from ..net import DEADLINE, FAILURES, TIMEOUT, NetError, reason, session
from ..text import printable, web_url
from .errors import ApiError
from .generations import is_loopback

_ANSWER_CAP = 64 * 1024  # a storage service's answer to a PUT is a few bytes of XML at most
_TRANSIENT = {408, 429, 500, 502, 503, 504}
_ATTEMPTS = 3  # per signed URL; the engine asks for a fresh one after that


class UploadFailed(ApiError):
    """A file could not be uploaded; nothing was given to the product. The next apply tries
    again (uploads are free)."""


@dataclass(frozen=True)
class Signed:
    """What the upload POST answered: where to PUT the bytes, and the URL they then have."""

    sign_url: str
    asset_url: str


def shown(url: str) -> str:
    """A signed URL as messages may show it: scheme and host only (its path and query may
    carry the signature)."""
    parts = urlsplit(url)
    return printable(f"{parts.scheme}://{parts.hostname or '?'}/…")


def check_signed(sign_url: object, asset_url: object, route: str) -> Signed:
    """The POST's answer, refused unless both URLs are plain http(s) ones and the bytes
    would not cross the network unencrypted."""
    if not web_url(sign_url) or not web_url(asset_url):
        what = "sign_url" if not web_url(sign_url) else "asset URL"
        raise UploadFailed(f"{route} answered without a usable {what} (not a plain http(s) URL)")
    assert isinstance(sign_url, str) and isinstance(asset_url, str)
    parts = urlsplit(sign_url)
    if parts.scheme != "https" and not is_loopback(parts.hostname or ""):
        raise UploadFailed(f"{route} answered a plain-http upload URL ({shown(sign_url)}); "
                           "not sending the file unencrypted")
    return Signed(sign_url, asset_url)


def put(sign_url: str, data: bytes, content_type: str, *, pause: Callable[[int], None]) -> None:
    """PUT `data` to `sign_url` with `content_type`; UploadFailed when it is not stored. A
    transient failure is tried again after `pause(attempt)` (the client's backoff, which
    ends the wait when the run stops)."""
    last = ""
    for attempt in range(_ATTEMPTS):
        if attempt:
            pause(attempt)
        status, last = _once(sign_url, data, content_type)
        if 200 <= status < 300:
            return
        if status and status not in _TRANSIENT:
            break
    raise UploadFailed(f"PUT of the file to {shown(sign_url)} failed: {last}")


def _once(url: str, data: bytes, content_type: str) -> tuple[int, str]:
    """(HTTP status, what to say) of one PUT; status 0 when no answer came."""
    try:
        put_on = session(url, 1, fresh=True)
    except NetError as err:
        raise UploadFailed(f"PUT of the file to {shown(url)}: {err}") from None
    # The whole exchange has a deadline: a minute, plus a second per 256 KB to send.
    DEADLINE.at = time.monotonic() + sum(TIMEOUT) + len(data) / (256 * 1024)
    headers = {"Content-Type": content_type, "User-Agent": f"jogg-flow/{__version__}"}
    try:
        resp = put_on.put(url, data=data, headers=headers, allow_redirects=False, stream=True,
                          timeout=TIMEOUT)
    except FAILURES as err:
        put_on.close()
        return 0, f"no answer ({reason(err)})"
    finally:
        DEADLINE.at = None  # the head's watch ends with it (net._CutAtDeadline)
    try:
        resp.raw.read(_ANSWER_CAP)
    except FAILURES:
        pass  # the status line is what counts
    finally:
        resp.close()
        put_on.close()
    return resp.status_code, f"HTTP {resp.status_code} {printable(resp.reason or '')}".rstrip()
