"""JoggAI's original product flow (`/open/...`) over one requests.Session.

Every response is read through JoggAI's `{rid, code, msg, data}` envelope whatever its HTTP
status. POSTs draw from a shared budget; GET and PUT are retried when the failure is
transient. A POST whose outcome is unknown is never retried here: `OutcomeUnknown` lets
the executor look at the project before it spends a second render.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
import urllib3

from . import __version__
from .errors import JoggFlowError, UsageError

DEFAULT_BASE = "https://api-services.jogg.ai"
STATUS = {1: "idle", 2: "pending", 3: "processing", 4: "succeeded", 5: "failed", 99: "failed"}


class ApiError(JoggFlowError):
    """JoggAI answered with an error code, or could not be reached."""

    exit_code = 1
    transient = False
    hint = ""

    def __init__(self, msg: str, *, code: int | None = None, rid: str | None = None,
                 http_status: int | None = None) -> None:
        self.code, self.msg, self.rid, self.http_status = code, msg, rid, http_status
        super().__init__(msg)

    def __str__(self) -> str:
        head = f"JoggAI error {self.code}: {self.msg}" if self.code is not None else self.msg
        tail = f" (rid {self.rid})" if self.rid else ""
        return head + tail + (f"; {self.hint}" if self.hint else "")


class NotFound(ApiError):
    """10104: the product or project does not exist."""

    hint = "the remote record is gone"


class InvalidKey(ApiError):
    """10105: JOGG_API_KEY is wrong or missing."""

    hint = "check JOGG_API_KEY"


class InsufficientCredit(ApiError):
    """18020: the account has no credit left."""

    hint = "top up credits in the JoggAI dashboard"


class NoPermission(ApiError):
    """18025: the account may not call the API."""

    hint = "enable API access for this account"


class ParameterError(ApiError):
    """40000: JoggAI refused a field."""


class ServerError(ApiError):
    """50000, a 5xx, or an answer that is not JoggAI's envelope."""

    transient = True


class RateLimited(ApiError):
    """429: too many POSTs in the window."""

    transient = True

    def __init__(self, msg: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(msg, **kw)
        self.retry_after = retry_after


class TransportError(ApiError):
    """No answer: connection refused, reset or timed out."""

    transient = True


class OutcomeUnknown(ApiError):
    """A POST that may or may not have been carried out."""

    transient = True


class Cancelled(ApiError):
    """The run is stopping; the POST was not sent."""


_CATALOG_OPEN = {"avatars": ("/open/avatar", "avatars"), "voices": ("/open/timbre", "timbres")}

_BY_CODE: dict[int, type[ApiError]] = {
    10104: NotFound, 10105: InvalidKey, 18020: InsufficientCredit, 18025: NoPermission,
    40000: ParameterError, 50000: ServerError, 429: RateLimited,
}


@dataclass(frozen=True)
class ProjectInfo:
    """A project's render state from GET /open/prj_info."""

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


@dataclass
class Slot:
    """One POST's place in the budget."""

    sent: bool = True


class PostBudget:
    """At most `limit` POSTs in any `window` seconds, as the server counts them.

    A slot is held from the moment a POST is sent until `window` seconds after its answer
    came back: the request reached the server somewhere in between, so no later POST can
    land inside the same window as seen by the server, whatever the latency did.
    """

    def __init__(self, limit: int = 20, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._expiries: list[float] = []
        self._inflight = 0
        self._paused_until = 0.0
        self._cancelled = False
        self._cond = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Hold one POST slot. Unless the caller marks it unsent (the request never left),
        it stays taken for `window` seconds after the answer."""
        self._acquire()
        slot = Slot()
        try:
            yield slot
        finally:
            with self._cond:
                self._inflight -= 1
                if slot.sent:
                    self._expiries.append(self.clock() + self.window)
                self._cond.notify_all()

    def pause(self, seconds: float) -> None:
        """Hold every POST back for `seconds` (a 429 told us to)."""
        with self._cond:
            self._paused_until = max(self._paused_until, self.clock() + seconds)

    def cancel(self) -> None:
        """Wake every queued caller with `Cancelled`; no POST is sent after this."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def _acquire(self) -> None:
        with self._cond:
            while True:
                if self._cancelled:
                    raise Cancelled("stopping: no more POSTs")
                now = self.clock()
                self._expiries = [t for t in self._expiries if t > now]
                if now < self._paused_until:
                    self._cond.wait(self._paused_until - now)
                elif len(self._expiries) + self._inflight < self.limit:
                    self._inflight += 1
                    return
                else:
                    self._cond.wait(min(self._expiries) - now if self._expiries else 0.05)


class Client:
    """The four calls of the product flow. Thread-safe; one Session, one POST budget."""

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

    # -- the product flow -------------------------------------------------------------

    def create_product(self, url: str) -> tuple[Any, str | None]:
        """POST /open/product: a product (and its project) from a page URL."""
        data = self._call("POST", "/open/product", body={"url": url})
        try:
            return int(data["id"]), str(data["prj_id"])
        except (TypeError, KeyError, ValueError):
            raise ServerError(f"POST /open/product answered without id/prj_id: {data!r:.80}") from None

    def update_product(self, product_id: Any, details: dict[str, Any]) -> None:
        """PUT /open/product: title, intro_text, target_audience, intro_medias."""
        self._call("PUT", "/open/product", body={"product_id": product_id, **details})

    def render(self, project_id: str, settings: dict[str, Any]) -> None:
        """POST /open/project/render with only the settings given."""
        self._call("POST", "/open/project/render", body={"project_id": project_id, **settings})

    def submit_render(self, record: dict[str, Any], settings: dict[str, Any]) -> str:
        """Render the record's project; return the id to poll (here the project's own)."""
        project_id = str(record["project_id"])
        self.render(project_id, settings)
        return project_id

    def find_render(self, record: dict[str, Any]) -> str | None:
        """After a render POST with no answer: the id of the render JoggAI accepted, if any.

        A project that was never rendered reads as status 1 (idle); any other status means
        the render was accepted.
        """
        project_id = str(record["project_id"])
        return None if self.project_info(project_id).status == "idle" else project_id

    def project_info(self, project_id: str) -> ProjectInfo:
        """GET /open/prj_info: the project's render status and, when done, its outputs."""
        data = self._call("GET", "/open/prj_info", params={"project_id": project_id})
        if not isinstance(data, dict):
            raise ServerError(f"GET /open/prj_info answered without data: {data!r:.80}")
        raw = data.get("status")
        status = STATUS.get(raw, "pending") if isinstance(raw, int) else "pending"
        return ProjectInfo.read(status, data, data.get("err_msg"))

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        """The choices JoggAI offers for a manifest setting (avatars, voices)."""
        path, key = _CATALOG_OPEN.get(kind, (None, None))
        if path is None:
            raise UsageError(f"the open API lists {', '.join(_CATALOG_OPEN)}; "
                             f"set api.version: v2 for {kind}")
        data = self._call("GET", path, params={"aspect_ratio": 0} if kind == "avatars" else None)
        items = (data or {}).get(key) or []
        return [i for i in items if isinstance(i, dict)]

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
