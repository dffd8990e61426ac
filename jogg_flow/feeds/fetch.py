"""URL feeds: fetched once per command over https, with a deadline and a size limit.

Through `jogg_flow.net`, the API's own stack: the deadline is cut at the socket, no redirect
is followed and nothing is sent that jogg-flow did not put there (no ~/.netrc password).
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_BYTES = 64 * 1024 * 1024
DEADLINE = 300.0  # seconds for the whole feed: a server dripping bytes is not waited on forever
_fetched: dict[str, bytes] = {}  # one command is one process: each URL is fetched once


class FetchError(Exception):
    """A feed that could not be fetched or opened; the message is user-facing."""


def fetch(url: str, *, loopback_http: bool = False, deadline: float = DEADLINE) -> bytes:
    """The feed's bytes. Only https; `loopback_http` (tests only, never from a manifest)
    also lets http://127.0.0.1 through, for a scripted server."""
    if url in _fetched:
        return _fetched[url]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises here, not in the middle of a fetch
    except ValueError as err:
        raise FetchError(f"{url}: is not a URL that can be read ({err})") from None
    if parts.scheme != "https" and not (loopback_http and parts.scheme == "http"
                                        and parts.hostname == "127.0.0.1"):
        raise FetchError(f"{url}: feeds are fetched over https only")
    from ..net import NetError, get  # the HTTP stack loads only when a manifest has a URL feed

    try:
        with get(url, deadline=deadline, max_bytes=MAX_BYTES) as answer:
            if answer.status != 200:
                raise FetchError(f"{url}: HTTP {answer.status} {answer.reason}".rstrip())
            body = answer.read()
    except NetError as err:
        raise FetchError(f"{url}: {err}") from None
    _fetched[url] = body
    return body
