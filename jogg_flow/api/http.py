"""The transport every generation shares: one urllib3 pool, JoggAI's envelope, retries.

Every response is read through JoggAI's `{rid, code, msg, data}` envelope whatever its HTTP
status. POSTs draw from a shared budget; GET and PUT are retried when the failure is
transient. A POST whose outcome is unknown is never retried here: `OutcomeUnknown` lets
the executor look at the project before it spends a second render.

The key goes only where it should: https (or loopback, or an explicit `allow_http`), no
redirect ever followed, every server text redacted of it. Every answer is read against a
total deadline and a size cap, and every wait wakes when the run stops.

The calls go through `requests` Sessions made by `jogg_flow.net.session` (no environment
walked per call, no ~/.netrc, no cookie, no redirect, no retry inside requests): reads on
kept-alive connections (one pool sized for the run's threads), each body streamed and read
here against the deadline and the cap, then the connection released for the next call;
POSTs on a Session whose connections close after their answer.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3
from urllib3.exceptions import ConnectTimeoutError, ProxyError

from .. import __version__
from ..errors import UsageError
from ..net import DEADLINE as _DEADLINE
from ..net import FAILURES as _FAILURES
from ..net import NetError as _NetError
from ..net import cause as _cause
from ..net import reason as _reason
from ..net import session as _session
from ..text import printable, web_url
from .budget import PostBudget
from .errors import (
    _BY_CODE,
    ApiError,
    Cancelled,
    InvalidKey,
    NotFound,
    NotServed,
    OutcomeUnknown,
    RateLimited,
    Redirected,
    Refused,
    ServerError,
    TransportError,
)
from .generations import GENERATIONS, UPLOADS, is_loopback
from .upload import Signed, check_signed

MAX_BODY = 4 * 2**20  # JoggAI's largest answers (catalog pages) are tens of KB
_SNIPPET = 120
_REDACTED = "[redacted]"


@dataclass(frozen=True)
class ProjectInfo:
    """A render's state, read from any generation's status payload."""

    status: str  # idle | pending | processing | succeeded | failed
    progress: int
    video_url: str | None
    cover_url: str | None
    duration: float | None
    err_msg: str | None
    # What JoggAI deducted for the render, where it says (v2's `deducted_credit`).
    credits: float | None = None

    def __post_init__(self) -> None:
        # An answer is input: a URL that is not a plain http(s) one (a spreadsheet formula,
        # javascript:, control characters for a terminal or a CI log) is never kept, and a
        # finished render that has one is not a success.
        bad = [name for name in ("video_url", "cover_url")
               if getattr(self, name) is not None and not web_url(getattr(self, name))]
        for name in bad:
            object.__setattr__(self, name, None)
        if self.err_msg is not None:  # kept in the state and printed: no NUL, no escapes
            object.__setattr__(self, "err_msg", printable(self.err_msg))
        if bad and self.status == "succeeded":
            object.__setattr__(self, "status", "failed")
            object.__setattr__(self, "err_msg", f"JoggAI answered a {bad[0]} that is not a plain "
                               "http(s) URL; not accepted as a finished video")

    @classmethod
    def read(cls, status: str, data: dict[str, Any], err_msg: Any) -> ProjectInfo:
        """From either generation's status payload, `status` already mapped."""
        duration = data.get("duration") or data.get("video_duration")
        charged = data.get("deducted_credit")
        if isinstance(charged, bool) or not isinstance(charged, (int, float)) or not 0 <= charged < 1e6:
            charged = None
        return cls(status=status, progress=int(data.get("progress") or 0),
                   video_url=data.get("video_url") or None, cover_url=data.get("cover_url") or None,
                   duration=float(duration) if isinstance(duration, (int, float)) and duration > 0 else None,
                   err_msg=str(err_msg) if err_msg else None,
                   credits=None if charged is None else float(charged))


@dataclass(frozen=True)
class PreviewAnswer:
    """One style's line in a preview POST's answer: its preview id, or why it was refused."""

    style: str
    preview_id: str | None
    err_msg: str | None


@dataclass(frozen=True)
class Preflight:
    """What the free GETs before the first POST learnt: the account and its credits."""

    account: str | None = None
    credits: float | None = None


def check_base(url: str, allow_http: bool = False) -> str:
    """The base URL, refused when the key would travel in clear text to another machine."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise UsageError(f"API base {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not allow_http and not is_loopback(host):
        raise UsageError(f"API base {url} is plain http: the key would cross the network "
                         f"unencrypted to {host}; use https, or --allow-http for a proxy you trust")
    return url.rstrip("/")


Sending = Callable[[], None] | None  # see HttpClient.submit_render


class HttpClient:
    """Base of every generation's client. Thread-safe; kept-alive connections for reads, a
    fresh one per POST, one POST budget."""

    version = "?"  # the `api.version` this client speaks, for messages
    # Whether one remote product can carry several videos (variants share it): its
    # generation says, for each client class (see `__init_subclass__`).
    shares_products = False

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.version in GENERATIONS:
            cls.shares_products = GENERATIONS[cls.version].shares_products

    def __init__(self, base_url: str, api_key: str, *, budget: PostBudget | None = None,
                 timeout: tuple[float, float] = (5.0, 30.0), retries: int = 5,
                 backoff: tuple[float, float] = (0.5, 30.0), pool: int = 10,
                 sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None,
                 on_retry: Callable[[str, ApiError, float], None] | None = None,
                 stop: threading.Event | None = None, allow_http: bool = False,
                 max_body: int = MAX_BODY, rate_patience: float = 1800.0) -> None:
        if not api_key:
            raise InvalidKey("JOGG_API_KEY is not set", code=10105)
        if not (api_key.isascii() and api_key.isprintable()) or api_key != api_key.strip():
            # A header cannot carry it; said before any request (never with the key in it),
            # not found out by a POST that then looks sent.
            raise UsageError("JOGG_API_KEY holds a character a header cannot carry (a newline, "
                             "a space at either end?); set it again")
        self.base_url = check_base(base_url, allow_http)
        self.budget = budget or PostBudget()
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        # How long one request keeps answering 429s before it gives up: a 429 was not carried
        # out, so it is never counted as an attempt; the run's own deadline bounds it.
        self.rate_patience = rate_patience
        # A product is made by crawling its page while the request waits: give it longer.
        self.product_timeout = 4 * timeout[1]
        self.stop = stop or threading.Event()
        self.sleep = sleep or self._sleep_unless_stopped
        self.rng = rng or random.Random()
        self.on_retry, self.max_body = on_retry, max_body
        self._secrets = [api_key.encode()] if len(api_key) >= 4 else []
        try:
            self._reads = _session(self.base_url, pool)
            # A POST never rides a kept-alive connection: one that the server, or a balancer in
            # front of it, closes as the request leaves would leave the outcome unknown, and an
            # unknown render costs the user a check. POSTs are few and paced, so each gets a
            # connection of its own, closed after its answer; reads keep theirs alive.
            self._posts = _session(self.base_url, pool, fresh=True)
        except _NetError as err:
            raise UsageError(str(err)) from None
        self.headers = {"x-api-key": api_key, "User-Agent": f"jogg-flow/{__version__}",
                         "Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
        self.requests_made = 0

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"  # never the key

    @property
    def base_url(self) -> str:
        """The base every path is joined to (a generation may trim a suffix of its own)."""
        return self._base

    @base_url.setter
    def base_url(self, url: str) -> None:
        self._base = url

    def close(self) -> None:
        """Close pooled connections."""
        self._reads.close()
        self._posts.close()

    # -- what every generation offers ---------------------------------------------------

    def create_product(self, url: str) -> tuple[Any, str | None]:
        """A product from a page URL: (product id, project id or None)."""
        raise NotImplementedError

    def update_product(self, product_id: Any, details: dict[str, Any]) -> None:
        """Change a product's title, text, audience or media."""
        raise NotImplementedError

    def submit_render(self, record: dict[str, Any], settings: dict[str, Any],
                      sending: Sending = None) -> str:
        """Ask for the record's video; return the id to poll. `sending` runs once the POST
        holds its budget slot, just before it leaves (the executor records it in flight
        there, so a run stopped while queued has sent nothing it must look for)."""
        raise NotImplementedError

    def find_render(self, record: dict[str, Any]) -> str | None:
        """After a render POST with no answer: the id of the render JoggAI accepted, or None
        when it cannot tell (yet)."""
        raise NotImplementedError

    def evidence(self, record: dict[str, Any]) -> tuple[str | None, str]:
        """After a render POST with no answer, one reading of the evidence: (the id of the
        render JoggAI shows, or None; else what the read shows to say it never started, ""
        when it cannot say). `--rerender-unseen-after` acts only on the second. The default
        (v1) reads nothing and says nothing: its needs-checks stay the user's."""
        return self.find_render(record), ""

    def project_info(self, project_id: str) -> ProjectInfo:
        """A render's status and, when done, its outputs."""
        raise NotImplementedError

    # -- previews, where the generation has them (Generation.previews) -------------------

    def submit_previews(self, record: dict[str, Any], settings: dict[str, Any],
                        styles: list[str], marker: str, sending: Sending = None) -> list[PreviewAnswer]:
        """One POST previewing `styles` of the record's video, named `marker`: per style,
        its preview id or why JoggAI refused that style."""
        raise NotImplementedError

    def read_previews(self, ids: set[str]) -> dict[str, ProjectInfo]:
        """The status of each preview in `ids` that the listing shows (free reads)."""
        raise NotImplementedError

    def find_previews(self, marker: str) -> list[tuple[str, str | None]]:
        """After a preview POST with no answer: the previews named `marker`, each as (id,
        its visual style where the answer names it)."""
        raise NotImplementedError

    def render_preview(self, preview_id: str, sending: Sending = None) -> str:
        """Render a chosen preview as the full video; return the id to poll."""
        raise NotImplementedError

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        """The choices the API offers for a setting."""
        raise NotImplementedError

    def whoami(self) -> str | None:
        """The account the key belongs to, where the API says; None elsewhere."""
        return None

    def credits(self) -> float | None:
        """The credit left, where the API reports it; None elsewhere."""
        return None

    def preflight(self) -> Preflight:
        """Free GETs before the first POST: the key works and this generation answers here
        (a bare 404 raises NotServed), and what the account has left to spend.

        A JoggAI envelope saying 10104 means the host speaks JoggAI but lacks that read
        (an older deployment, the sandbox): not a reason to stop."""
        try:
            account = self.whoami()
        except NotFound:
            account = None
        try:
            left = self.credits()
        except NotFound:
            left = None
        return Preflight(account, left)

    # -- transport ----------------------------------------------------------------------

    def _call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
              params: dict[str, Any] | None = None, read_timeout: float | None = None,
              sending: Sending = None) -> Any:
        route = f"{method} {path}"
        attempt = 0
        limited_until: float | None = None  # a 429 is not an attempt: it is bounded in time
        while True:
            try:
                return self._once(method, path, body, params, read_timeout, sending)
            except RateLimited as err:
                limited_until = self._rate_limited(route, err, limited_until)
                continue
            except ApiError as err:
                if not err.transient:
                    raise
                if isinstance(err, OutcomeUnknown):
                    raise  # it says so already; never sent again here (the executor decides)
                if method == "POST" and not isinstance(err, TransportError):
                    # Its code and rid are carried over, not repeated in the text.
                    said = err.msg if err.msg.startswith(route) else f"{route}: {err.msg}"
                    raise OutcomeUnknown(f"{said}; it may or may not have been carried out",
                                         code=err.code, rid=err.rid) from None
                delay = self._delay(attempt)
                error: ApiError = err
            attempt += 1
            if attempt > self.retries:
                raise error
            if self.on_retry:
                self.on_retry(route, error, delay)
            self.sleep(delay)

    def _rate_limited(self, route: str, err: RateLimited, until: float | None) -> float:
        """A 429: not carried out, so safe to send again for every method, and no attempt
        spent; waiting ends when `rate_patience` has run out since the first one. Without a
        hint JoggAI's window is the only safe wait; the pause holds every worker, and a POST
        that met it although the budget was kept lowers the budget."""
        hint = err.retry_after
        delay = self.budget.window if hint is None else min(hint, 2 * self.budget.window)
        self.budget.pause(delay)
        post = route.startswith("POST ")
        if post and hasattr(self.budget, "throttled"):
            self.budget.throttled()
        now = time.monotonic()
        until = until or now + self.rate_patience
        if now + delay > until:
            raise err
        if self.on_retry:
            self.on_retry(route, err, delay)
        if not post:
            self.sleep(delay)  # a POST waits on the paused budget instead
        return until

    def _sleep_unless_stopped(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise Cancelled("stopping: not retrying")

    def pause(self, attempt: int) -> None:
        """Wait before trying again for the `attempt`th time: the client's backoff, ended
        (Cancelled) when the run stops."""
        self.sleep(self._delay(attempt - 1))

    def _delay(self, attempt: int) -> float:
        base, cap = self.backoff
        return float(min(cap, base * 2.0 ** attempt) * self.rng.uniform(0.5, 1.0))

    def _once(self, method: str, path: str, body: dict[str, Any] | None,
              params: dict[str, Any] | None, read_timeout: float | None, sending: Sending = None) -> Any:
        timeout = (self.timeout[0], read_timeout or self.timeout[1])
        if method != "POST":
            self.requests_made += 1
            return self._exchange(method, path, body, params, timeout)
        with self.budget.slot() as slot:
            if sending is not None:
                try:
                    sending()
                except BaseException:
                    slot.sent = False  # nothing left: the slot goes back
                    raise
            self.requests_made += 1
            try:
                return self._exchange(method, path, body, params, timeout)
            except _NotSent:
                slot.sent = False
                raise

    def _exchange(self, method: str, path: str, body: dict[str, Any] | None,
                  params: dict[str, Any] | None, timeout: tuple[float, float]) -> Any:
        route, query = f"{method} {path}", "?" + urlencode(params, doseq=True) if params else ""
        headers, data = self.headers, None
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
            data = json.dumps(body, allow_nan=False).encode()
        lost = OutcomeUnknown if method == "POST" else TransportError
        deadline = _DEADLINE.at = time.monotonic() + sum(timeout)
        try:
            session = self._posts if method == "POST" else self._reads
            resp = session.request(method, self.base_url + path + query, data=data, headers=headers,
                                   allow_redirects=False, stream=True, timeout=timeout)
        except _FAILURES as err:
            if _not_sent(err):
                raise _NotSent(f"{route}: cannot connect to {self.base_url} "
                               f"({_reason(err)})") from None
            what = "no answer within the request timeout" if time.monotonic() >= deadline else \
                f"no answer ({_reason(err)})"
            raise lost(f"{route}: {what}" + _MAYBE[method]) from None
        finally:
            _DEADLINE.at = None
        try:
            raw = self._read(resp, deadline)
        except _Cut as cut:
            resp.raw.close()  # the rest of this answer must not reach the next request
            raise lost(f"{route}: {cut}" + _MAYBE[method]) from None
        finally:
            resp.raw.release_conn()  # read whole: the connection serves the next call
        return self._envelope(resp, self._redact(raw), route)

    def _read(self, resp: requests.Response, deadline: float) -> bytes:
        """The whole body, or _Cut past the deadline or the size cap (a trickling or
        endless answer must not hold the run)."""
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise _Cut(f"answer of {declared} bytes is over the {self.max_body}-byte limit")
        size, chunks = 0, list[bytes]()
        read = resp.raw.read1
        try:
            while True:
                if time.monotonic() > deadline:
                    raise _Cut("no complete answer within the request timeout")
                chunk = read(65536, decode_content=True)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > self.max_body:
                    raise _Cut(f"answer over the {self.max_body}-byte limit")
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise _Cut(f"answer cut short ({_reason(err)})") from None

    def _redact(self, raw: bytes) -> bytes:
        for secret in self._secrets:
            raw = raw.replace(secret, _REDACTED.encode())
        return raw

    def _envelope(self, resp: requests.Response, raw: bytes, route: str) -> Any:
        status = resp.status_code
        if 300 <= status < 400:
            target = urlsplit(urljoin(self.base_url, resp.headers.get("Location", ""))).hostname
            raise Redirected(f"{route}: HTTP {status} redirect to {target or '?'} not followed "
                             "(the key is never sent on); set api.base_url to the final address",
                             http_status=status)
        body = _json(raw)
        if body is None:
            return self._bare(resp, raw, route)
        code, rid = body["code"], body.get("rid") or None
        msg = printable(str(body.get("msg") or body.get("message") or ""))  # kept and printed
        if code == 0 and status < 400:
            return body.get("data")
        if code == 0:
            raise ServerError(f"{route}: HTTP {status}", rid=rid, http_status=status)
        cls = _BY_CODE.get(code, ServerError if status >= 500 else ApiError)
        if cls is RateLimited:
            raise RateLimited(msg, code=code, rid=rid, http_status=status,
                              retry_after=_retry_after(resp, body))
        raise cls(msg, code=code, rid=rid, http_status=status)

    def _bare(self, resp: requests.Response, raw: bytes, route: str) -> Any:
        """An answer without JoggAI's envelope: a gateway's, a proxy's, a retired path's."""
        status, text = resp.status_code, snippet(raw)
        if status == 429:
            raise RateLimited(f"{route}: HTTP 429", code=429, http_status=429,
                              retry_after=_retry_after(resp, {}))
        if status == 404:
            err: ApiError = NotServed(f"{route}: HTTP 404: {text}", http_status=404)
            err.hint = f"api.version {self.version} is not served at {self.base_url}?"
            raise err
        if 400 <= status < 500:
            raise Refused(f"{route}: HTTP {status}: {text}", http_status=status)
        kind = resp.headers.get("Content-Type", "?").split(";")[0]
        raise ServerError(f"{route}: HTTP {status}, not a JoggAI answer ({kind}): {text}",
                          http_status=status)

    # -- local media ----------------------------------------------------------------------

    def upload_asset(self, filename: str, mime: str, size: int) -> Signed:
        """Ask where to PUT a local file (its generation's `UploadRoute`): the signed URL and
        the URL the file will have. The answer's signed URL is never put in a message."""
        route = UPLOADS[self.version]
        data = self._call("POST", route.path, body=route.body(filename, mime, size))
        data = data if isinstance(data, dict) else {}
        return check_signed(data.get("sign_url"), data.get(route.answer), f"POST {route.path}")


_MAYBE = {"POST": "; it may or may not have been carried out", "GET": "", "PUT": ""}


class _NotSent(TransportError):
    """The request certainly never reached the server."""


class _Cut(Exception):
    """An answer not read whole: past its deadline, too large, or broken off."""


def _json(raw: bytes) -> dict[str, Any] | None:
    """JoggAI's envelope, or None when the body is not one."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        return None
    return body if isinstance(body, dict) and isinstance(body.get("code"), int) else None


def snippet(raw: bytes) -> str:
    """The start of a body for a message: tags dropped, one line, short."""
    text = raw[:4096].decode("utf-8", "replace")
    text = re.sub(r"<[^>]*>", " ", text)
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return (text[:_SNIPPET] + "…" if len(text) > _SNIPPET else text) or "(empty body)"


def _retry_after(resp: requests.Response, body: dict[str, Any]) -> float | None:
    """Seconds to wait: `Retry-After` (seconds or an HTTP date), or a `retryAfter` field."""
    data = body.get("data")
    for value in (resp.headers.get("Retry-After"), body.get("retryAfter"),
                  data.get("retryAfter") if isinstance(data, dict) else None):
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except (TypeError, ValueError):
            pass
        try:
            when = parsedate_to_datetime(str(value))
        except (TypeError, ValueError, IndexError):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    return None


def _not_sent(err: BaseException) -> bool:
    """True when the request certainly never reached the server (no connection, to the API
    or to the proxy in front of it): urllib3's error under requests' wrapping says."""
    err = _cause(err)
    if isinstance(err, ProxyError):
        return isinstance(err.original_error, ConnectTimeoutError)
    return isinstance(err, ConnectTimeoutError)  # NewConnectionError is one too
