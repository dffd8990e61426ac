"""The transport every generation shares: one requests.Session, JoggAI's envelope, retries.

Every response is read through JoggAI's `{rid, code, msg, data}` envelope whatever its HTTP
status. POSTs draw from a shared budget; GET and PUT are retried when the failure is
transient. A POST whose outcome is unknown is never retried here: `OutcomeUnknown` lets
the executor look at the project before it spends a second render.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import urllib3

from .. import __version__
from .budget import PostBudget
from .errors import (
    _BY_CODE,
    ApiError,
    InvalidKey,
    OutcomeUnknown,
    RateLimited,
    ServerError,
    TransportError,
)


@dataclass(frozen=True)
class ProjectInfo:
    """A render's state, read from any generation's status payload."""

    status: str  # idle | pending | processing | succeeded | failed
    progress: int
    video_url: str | None
    cover_url: str | None
    duration: float | None
    err_msg: str | None

    @classmethod
    def read(cls, status: str, data: dict[str, Any], err_msg: Any) -> ProjectInfo:
        """From either generation's status payload, `status` already mapped."""
        duration = data.get("duration") or data.get("video_duration")
        return cls(status=status, progress=int(data.get("progress") or 0),
                   video_url=data.get("video_url") or None, cover_url=data.get("cover_url") or None,
                   duration=float(duration) if isinstance(duration, (int, float)) and duration > 0 else None,
                   err_msg=str(err_msg) if err_msg else None)


class HttpClient:
    """Base of every generation's client. Thread-safe; one Session, one POST budget."""

    def __init__(self, base_url: str, api_key: str, *, budget: PostBudget | None = None,
                 timeout: tuple[float, float] = (5.0, 30.0), retries: int = 5,
                 backoff: tuple[float, float] = (0.5, 30.0), pool: int = 10,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None,
                 on_retry: Callable[[str, ApiError, float], None] | None = None) -> None:
        if not api_key:
            raise InvalidKey("JOGG_API_KEY is not set", code=10105)
        self.base_url = base_url.rstrip("/")
        self.budget = budget or PostBudget()
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.sleep, self.rng = sleep, rng or random.Random()
        self.on_retry = on_retry
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"x-api-key": api_key, "User-Agent": f"jogg-flow/{__version__}",
                                     "Accept": "application/json"})
        self.requests_made = 0

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"  # never the key

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    # -- what every generation offers ---------------------------------------------------

    def create_product(self, url: str) -> tuple[Any, str | None]:
        """A product from a page URL: (product id, project id or None)."""
        raise NotImplementedError

    def update_product(self, product_id: Any, details: dict[str, Any]) -> None:
        """Change a product's title, text, audience or media."""
        raise NotImplementedError

    def submit_render(self, record: dict[str, Any], settings: dict[str, Any]) -> str:
        """Ask for the record's video; return the id to poll."""
        raise NotImplementedError

    def find_render(self, record: dict[str, Any]) -> str | None:
        """After a render POST with no answer: the id of the render JoggAI accepted, if any."""
        raise NotImplementedError

    def project_info(self, project_id: str) -> ProjectInfo:
        """A render's status and, when done, its outputs."""
        raise NotImplementedError

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        """The choices the API offers for a setting."""
        raise NotImplementedError

    # -- transport ----------------------------------------------------------------------

    def _call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
              params: dict[str, Any] | None = None) -> Any:
        route = f"{method} {path}"
        attempt = 0
        while True:
            try:
                return self._once(method, path, body, params)
            except RateLimited as err:
                # Not carried out, so safe to send again for every method.
                delay = err.retry_after if err.retry_after is not None else self._delay(attempt)
                self.budget.pause(delay)
                error: ApiError = err
            except ApiError as err:
                if not err.transient:
                    raise
                if method == "POST" and not isinstance(err, TransportError):
                    raise OutcomeUnknown(f"{route}: {err}; it may or may not have been "
                                         "carried out", code=err.code, rid=err.rid) from None
                delay = self._delay(attempt)
                error = err
            attempt += 1
            if attempt > self.retries:
                raise error
            if self.on_retry:
                self.on_retry(route, error, delay)
            if not (isinstance(error, RateLimited) and method == "POST"):
                self.sleep(delay)  # a POST waits on the paused budget instead

    def _delay(self, attempt: int) -> float:
        base, cap = self.backoff
        return float(min(cap, base * 2.0 ** attempt) * self.rng.uniform(0.5, 1.0))

    def _once(self, method: str, path: str, body: dict[str, Any] | None,
              params: dict[str, Any] | None) -> Any:
        url = self.base_url + path
        try:
            if method == "POST":
                with self.budget.slot() as slot:
                    self.requests_made += 1
                    try:
                        resp = self.session.request(method, url, json=body, params=params,
                                                    timeout=self.timeout)
                    except requests.RequestException as err:
                        slot.sent = not _not_sent(err)
                        raise
            else:
                self.requests_made += 1
                resp = self.session.request(method, url, json=body, params=params,
                                            timeout=self.timeout)
        except requests.RequestException as err:
            if _not_sent(err):
                raise TransportError(f"{method} {path}: cannot connect ({type(err).__name__})") from None
            if method == "POST":
                raise OutcomeUnknown(f"{method} {path}: no answer ({type(err).__name__}); it may "
                                     "or may not have been carried out") from None
            raise TransportError(f"{method} {path}: no answer ({type(err).__name__})") from None
        return _envelope(resp, f"{method} {path}")


def _envelope(resp: requests.Response, route: str) -> Any:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("code"), int):
        if resp.status_code == 429:
            raise RateLimited(f"{route}: HTTP 429", code=429, http_status=429,
                              retry_after=_retry_after(resp, {}))
        kind = resp.headers.get("Content-Type", "?").split(";")[0]
        raise ServerError(f"{route}: HTTP {resp.status_code}, not a JoggAI answer ({kind})",
                          http_status=resp.status_code)
    code, msg, rid = body["code"], str(body.get("msg", "")), body.get("rid") or None
    if code == 0 and resp.status_code < 400:
        return body.get("data")
    if code == 0:
        raise ServerError(f"{route}: HTTP {resp.status_code}", rid=rid, http_status=resp.status_code)
    cls = _BY_CODE.get(code, ServerError if resp.status_code >= 500 else ApiError)
    if cls is RateLimited:
        raise RateLimited(msg, code=code, rid=rid, http_status=resp.status_code,
                          retry_after=_retry_after(resp, body))
    raise cls(msg, code=code, rid=rid, http_status=resp.status_code)


def _retry_after(resp: requests.Response, body: dict[str, Any]) -> float | None:
    for value in (resp.headers.get("Retry-After"), body.get("retryAfter"),
                  (body.get("data") or {}).get("retryAfter") if isinstance(body.get("data"), dict) else None):
        try:
            if value is not None:
                return max(0.0, float(value))
        except (TypeError, ValueError):
            continue
    return None


def _not_sent(err: requests.RequestException) -> bool:
    """True when the request certainly never reached the server."""
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return True
    reason = err.args[0] if err.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)
