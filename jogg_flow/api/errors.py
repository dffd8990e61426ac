"""What can go wrong talking to JoggAI, one class per kind; each knows if a retry can help."""

from __future__ import annotations

from typing import Any

from ..errors import JoggFlowError


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


_BY_CODE: dict[int, type[ApiError]] = {
    10104: NotFound, 10105: InvalidKey, 18020: InsufficientCredit, 18025: NoPermission,
    40000: ParameterError, 50000: ServerError, 429: RateLimited,
}


class Refused(ApiError):
    """A 4xx (or 3xx) that is not JoggAI's envelope: a gateway, a proxy or a retired path
    answered. Nothing was carried out, and every later call would meet the same answer."""


class NotServed(Refused):
    """A bare 404: this API generation is not served at this base URL."""


class Redirected(Refused):
    """A 3xx: never followed, so the key never goes to another host."""
