"""Plain HTTP for everything jogg-flow fetches: the API's transport (`api.http`), the upload
PUT, URL feeds and `--download`, all on `requests` Sessions made by `session`.

Every exchange has a total deadline cut at the socket (a server dripping a byte a second
never holds a run past it), a size cap, and no redirect followed. Nothing is sent that
jogg-flow did not put there itself: a Session here trusts no environment (`trust_env` off:
no `~/.netrc` password, which requests would send to feed and file hosts, and no proxy or
CA variables walked per call), sends only the headers each call names, keeps no cookie, and
retries nothing (the client's own retry and exactly-once rules decide). The environment is
read once per Session: the proxy it names for the host (NO_PROXY honoured, credentials
only from the proxy's own URL) and the CA bundle. Under requests, urllib3's pools use the
connections below, whose status line and headers obey the calling thread's `DEADLINE`.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse, HTTPResponse
from urllib3.util.retry import Retry

from . import __version__

if TYPE_CHECKING:
    from requests.sessions import _Settings

TIMEOUT = (10.0, 60.0)  # seconds to connect, seconds between two reads
_CHUNK = 1 << 16


class NetError(Exception):
    """A fetch that failed or was refused; the message is user-facing and names no URL
    (the caller says which), so a signed query string is never repeated."""


class Answer:
    """An answer being read: its status, headers, and body in chunks under the deadline
    and the size cap."""

    def __init__(self, resp: BaseHTTPResponse, until: float, seconds: float, max_bytes: int,
                 token: int | None) -> None:
        self.status, self.reason = resp.status, resp.reason or ""
        self.headers: Mapping[str, str] = resp.headers
        self._resp, self._until, self._seconds, self.max_bytes = resp, until, seconds, max_bytes
        self._token = token  # the watchdog's, armed to shut the socket at the deadline
        self.received = 0

    def chunks(self) -> Iterator[bytes]:
        """The body, chunk by chunk; NetError past the deadline or the cap, or when cut."""
        declared = self.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise NetError(f"larger than {self.max_bytes:,} bytes")
        try:
            while True:
                try:
                    chunk = self._resp.read(_CHUNK, decode_content=False)
                except (urllib3.exceptions.HTTPError, OSError) as err:
                    if not self.disarm():  # the watchdog shut the socket: the deadline passed
                        raise NetError(f"not complete after {self._seconds:g} s") from None
                    raise NetError(f"cut short ({reason(err)})") from None
                if not chunk:
                    break
                self.received += len(chunk)
                if self.received > self.max_bytes:
                    raise NetError(f"larger than {self.max_bytes:,} bytes")
                yield chunk
        except BaseException:
            self.disarm()
            raise
        if not self.disarm():  # the end seen was the socket shut at the deadline
            raise NetError(f"not complete after {self._seconds:g} s")

    def disarm(self) -> bool:
        """Stop the deadline's watch; False when it had already shut the socket."""
        token, self._token = self._token, None
        return token is None or WATCHDOG.disarm(token)

    def read(self) -> bytes:
        """The whole body (see `chunks`)."""
        return b"".join(self.chunks())


class get:  # noqa: N801 - used as a function: `with get(url, ...) as answer`
    """GET `url` (http or https): a context manager giving the `Answer`, its connection
    closed on exit. `deadline` seconds for the whole exchange, head and body; a redirect
    is refused with its target's host, unless `follow` allows that many and it leads to
    https (a CDN in front of a file: never on to plain http); `headers` are the only ones
    sent besides User-Agent, Accept-Encoding: identity and Host."""

    def __init__(self, url: str, *, deadline: float, max_bytes: int,
                 headers: Mapping[str, str] | None = None,
                 timeout: tuple[float, float] = TIMEOUT, follow: int = 0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NetError("not an http(s) URL")
        self.url, self.deadline, self.max_bytes, self.timeout = url, deadline, max_bytes, timeout
        self.headers = {"User-Agent": f"jogg-flow/{__version__}", "Accept-Encoding": "identity",
                        **(headers or {})}
        self._given, self.follow = headers, follow
        self._session: requests.Session | None = None
        self._resp: requests.Response | None = None
        self._answer: Answer | None = None
        self._next: get | None = None  # the redirect's target, when one is followed

    def __enter__(self) -> Answer:
        until = time.monotonic() + self.deadline
        self._session = session(self.url, 1, fresh=True)
        DEADLINE.at, DEADLINE.whole, DEADLINE.token = until, True, None
        try:
            self._resp = self._session.get(self.url, headers=self.headers, allow_redirects=False,
                                           stream=True, timeout=self.timeout)
        except FAILURES as err:
            self._session.close()
            fired = DEADLINE.token is not None and not WATCHDOG.disarm(DEADLINE.token)
            if fired or time.monotonic() >= until:
                raise NetError(f"no answer within {self.deadline:g} s") from None
            root = cause(err)
            if isinstance(root, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError too
                raise NetError(f"cannot connect ({reason(root)})") from None
            if isinstance(root, urllib3.exceptions.ConnectTimeoutError):
                raise NetError(f"cannot connect within {self.timeout[0]:g} s") from None
            if isinstance(root, urllib3.exceptions.TimeoutError):
                raise NetError(f"no answer within {self.timeout[1]:g} s") from None
            raise NetError(f"cannot fetch ({reason(root)})") from None
        finally:
            token, DEADLINE.at, DEADLINE.whole, DEADLINE.token = DEADLINE.token, None, False, None
        resp = self._resp
        self._answer = Answer(resp.raw, until, self.deadline, self.max_bytes, token)
        if 300 <= resp.status_code < 400:
            location = urljoin(self.url, resp.headers.get("Location", ""))
            target, status = urlsplit(location), resp.status_code
            self.__exit__()
            if self.follow > 0 and target.scheme == "https" and target.hostname:
                self._next = get(location, deadline=max(0.001, until - time.monotonic()),
                                 max_bytes=self.max_bytes, headers=self._given, timeout=self.timeout,
                                 follow=self.follow - 1)
                return self._next.__enter__()
            raise NetError(f"HTTP {status} redirect to {target.hostname or '?'} not followed; "
                           "give the final address")
        return self._answer

    def __exit__(self, *_: Any) -> None:
        if self._next is not None:
            self._next.__exit__()
        if self._answer is not None:
            self._answer.disarm()
        if self._resp is not None:
            self._resp.close()  # the connection is closed, and released
        if self._session is not None:
            self._session.close()


# What a call on a Session may raise: requests' own errors, wrapping urllib3's (and, past
# requests, an error of urllib3's or the socket's read from a streamed body).
FAILURES = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)


def cause(err: BaseException) -> BaseException:
    """The error underneath requests' wrapping: requests raises ConnectionError(MaxRetryError(
    reason=NewConnectionError)), ConnectTimeout(...), ProxyError(...), ReadTimeout(ReadTimeoutError)
    and so on; what jogg-flow decides on (was anything sent?) is urllib3's error inside."""
    seen = err
    for _ in range(4):
        if isinstance(seen, requests.RequestException) and seen.args \
                and isinstance(seen.args[0], BaseException):
            seen = seen.args[0]
        elif isinstance(seen, MaxRetryError) and seen.reason is not None:
            seen = seen.reason
        else:
            break
    return seen


def reason(err: BaseException) -> str:
    """What the system said ("Connection refused", "Name or service not known"), found in
    the error or what caused it; else the error's kind."""
    err = cause(err)
    seen: BaseException | None = err
    for _ in range(5):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return str(seen.strerror)
        seen = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
    return type(err).__name__


class _Session(requests.Session):
    """A Session that never looks at a redirect: requests, told not to follow one, still
    reads the whole body of a 3xx (no size cap, no deadline) to work out the next request.
    Here a 3xx is an answer like any other, its body read (or not) by the caller."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """The request as the caller wrote it, and nothing merged in: the Session has no
        headers, auth, cookies or hooks of its own to merge (and requests' merging cost a
        third of a call's CPU). Its URL goes to urllib3 as given, as it always did (requests'
        re-quoting could change the escapes of a signed URL); every caller builds or checks
        its URL first."""
        if request.params or request.files or request.json is not None or request.auth or request.cookies:
            raise TypeError("jogg_flow.net sessions take a URL, headers and a body only")
        prepared = requests.PreparedRequest()
        prepared.prepare_method(request.method)
        prepared.url = request.url
        prepared.prepare_headers(request.headers)
        prepared.prepare_body(request.data, None)
        prepared.prepare_hooks(request.hooks)
        return prepared

    def merge_environment_settings(self, url: str | bytes | None, proxies: Any, stream: bool | None,
                                   verify: Any, cert: Any) -> _Settings:
        """The Session's own settings, read from the environment once when it was made."""
        return {"proxies": proxies or self.proxies, "stream": self.stream if stream is None else stream,
                "verify": self.verify if verify is None else verify, "cert": cert or self.cert}


def session(url: str, size: int, fresh: bool = False) -> requests.Session:
    """A Session for `url`'s host: `size` kept-alive connections (one per thread of the
    run), certificates checked against REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE or certifi's
    bundle, through the proxy the environment names for the host, if any. The environment
    is read here, once: it cannot change under a run, and requests walks none of it per call
    (`trust_env` off, which also keeps `~/.netrc` out). No header is sent but those a call
    names (and Host, Content-Length, Accept-Encoding: identity, where the call names none);
    no cookie is kept; no redirect followed; nothing retried. `fresh`: every connection is
    closed once its answer is read, so each request opens its own (for POSTs)."""
    made = _Session()
    made.trust_env = False
    made.headers = CaseInsensitiveDict()  # not requests' User-Agent, Accept, Connection
    made.cookies = RequestsCookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    made.max_redirects = 0
    made.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or _certifi()
    proxy = _proxy_for(url)
    if proxy and urlsplit(proxy).scheme not in ("http", "https"):
        # requests would take a socks proxy only with PySocks, and then on connections of its
        # own, without the deadline: refused, said without the proxy's credentials.
        parts = urlsplit(proxy)
        raise NetError(f"the proxy the environment names for {urlsplit(url).hostname} "
                       f"({parts.scheme}://{parts.hostname or '?'}) is not an http:// or https:// one; "
                       "jogg-flow speaks to no other kind")
    made.proxies = {urlsplit(url).scheme: proxy} if proxy else {}
    adapter = _Adapter(size, fresh)
    made.adapters.clear()
    made.mount("http://", adapter)
    made.mount("https://", adapter)
    return made


class _Adapter(HTTPAdapter):
    """requests' adapter on this module's connection pools: the status line and headers are
    read against the calling thread's `DEADLINE` (the body against it by the caller), and
    with `fresh` every connection is closed once its answer is read. urllib3 retries nothing
    (connection errors raise at once, read errors as they are)."""

    def __init__(self, size: int, fresh: bool) -> None:
        self._classes: dict[str, type[HTTPConnectionPool]] = \
            {"http": _FreshPool, "https": _SFreshPool} if fresh else {"http": _Pool, "https": _SPool}
        super().__init__(pool_connections=2, pool_maxsize=size, pool_block=False,
                         max_retries=Retry(0, read=False, redirect=False))

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = self._classes

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = self._classes
        return manager


def _proxy_for(base_url: str) -> str | None:
    """HTTPS_PROXY / HTTP_PROXY / ALL_PROXY for the base's scheme, unless NO_PROXY exempts it."""
    parts = urlsplit(base_url)
    if urllib.request.proxy_bypass_environment(parts.hostname or ""):  # type: ignore[attr-defined]
        return None
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    return proxy if "://" in proxy else "http://" + proxy


def _certifi() -> str | bool:
    try:
        import certifi
    except ImportError:  # the system's store, then
        return True
    return str(certifi.where())


DEADLINE = threading.local()  # when the calling thread's request must have its answer


class _Watchdog:
    """One thread that shuts each armed socket at its deadline: a server trickling its
    headers a byte at a time never trips the per-read timeout. (A timer thread per request
    cost more CPU than the request itself.)"""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Any]] = []
        self._armed: set[int] = set()
        self._seq = 0
        self._thread: threading.Thread | None = None

    def arm(self, at: float, sock: Any) -> int:
        """Shut `sock` at monotonic time `at` unless disarmed first; returns the token."""
        with self._cond:
            self._seq += 1
            heapq.heappush(self._due, (at, self._seq, sock))
            self._armed.add(self._seq)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="jogg-deadlines", daemon=True)
                self._thread.start()
            if self._due[0][1] == self._seq:
                self._cond.notify()
            return self._seq

    def disarm(self, token: int) -> bool:
        """The answer (or its head) arrived in time; False when the socket was already shut."""
        with self._cond:
            armed = token in self._armed
            self._armed.discard(token)
            return armed

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._due and self._due[0][1] not in self._armed:
                    heapq.heappop(self._due)  # disarmed: nothing to do
                if not self._due:
                    self._cond.wait()
                    continue
                at, token, sock = self._due[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._due)
                self._armed.discard(token)
            _shutdown(sock)


WATCHDOG = _Watchdog()


def _shutdown(sock: Any) -> None:
    try:
        sock.shutdown(2)  # SHUT_RDWR: the blocked read returns at once
    except OSError:
        pass


class _CutAtDeadline:
    """Mixed into urllib3's connections: the status line and headers obey the deadline too,
    and with `DEADLINE.whole` set the body as well (the armed token is left in
    `DEADLINE.token` for the body's reader to disarm)."""

    def getresponse(self) -> HTTPResponse:
        at, sock = getattr(DEADLINE, "at", None), getattr(self, "sock", None)
        token = WATCHDOG.arm(at, sock) if at is not None and sock is not None else None
        try:
            return super().getresponse()  # type: ignore[misc, no-any-return]
        finally:
            if token is not None:
                if getattr(DEADLINE, "whole", False):
                    DEADLINE.token = token
                else:
                    WATCHDOG.disarm(token)


class _Conn(_CutAtDeadline, HTTPConnection):  # type: ignore[misc]
    pass


class _SConn(_CutAtDeadline, HTTPSConnection):  # type: ignore[misc]
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Conn


class _SPool(HTTPSConnectionPool):
    ConnectionCls = _SConn


class _Closing:
    """A pool that closes each connection as it comes back: the next request connects anew."""

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.close()
        super()._put_conn(conn)  # type: ignore[misc]


class _FreshPool(_Closing, _Pool):
    pass


class _SFreshPool(_Closing, _SPool):
    pass
