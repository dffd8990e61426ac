"""URL feeds: fetched once per command over https, with a timeout and a size limit."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

MAX_BYTES = 64 * 1024 * 1024
TIMEOUT = (10.0, 60.0)  # seconds to connect, seconds between two reads
DEADLINE = 300.0  # seconds for the whole feed: a server dripping bytes is not waited on forever
_fetched: dict[str, bytes] = {}  # one command is one process: each URL is fetched once


class FetchError(Exception):
    """A feed that could not be fetched or opened; the message is user-facing."""


def fetch(url: str, *, loopback_http: bool = False, deadline: float = DEADLINE) -> bytes:
    """The feed's bytes. Only https; `loopback_http` (tests only, never from a manifest)
    also lets http://127.0.0.1 through, for a scripted server."""
    if url in _fetched:
        return _fetched[url]
    parts = urlsplit(url)
    if parts.scheme != "https" and not (loopback_http and parts.scheme == "http"
                                        and parts.hostname == "127.0.0.1"):
        raise FetchError(f"{url}: feeds are fetched over https only")
    import requests  # loaded only when a manifest has a URL feed

    try:
        with requests.get(url, timeout=TIMEOUT, stream=True, allow_redirects=True,
                          headers={"Accept-Encoding": "identity"}) as answer:
            if urlsplit(answer.url).scheme != parts.scheme:
                raise FetchError(f"{url}: redirected away from {parts.scheme}")
            if answer.status_code != 200:
                raise FetchError(f"{url}: HTTP {answer.status_code} {answer.reason or ''}".rstrip())
            body = bytearray()
            stop = time.monotonic() + deadline
            for chunk in answer.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_BYTES:
                    raise FetchError(f"{url}: larger than {MAX_BYTES:,} bytes")
                if time.monotonic() > stop:
                    raise FetchError(f"{url}: not complete after {deadline:g} s")
    except requests.Timeout:
        raise FetchError(f"{url}: no answer within {TIMEOUT[1]:.0f} s") from None
    except requests.RequestException as err:
        raise FetchError(f"{url}: cannot fetch ({type(err).__name__})") from None
    _fetched[url] = bytes(body)
    return _fetched[url]
