"""Which API a state describes: generation, normalised base URL and, once known, account
(and, under `feeds`, the content hash of each catalogue feed as the last apply read it).

A state made against one API must never make another API's videos look finished, so
every run and plan compares the identity it targets with the one the state recorded.
The key itself is never part of it: rotating the key of one account keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import StateError

SANDBOX_BASE = "sandbox"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_base(url: str) -> str:
    """`HTTPS://API.jogg.ai:443/v2/` -> `https://api.jogg.ai`: what makes two bases the same API."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip().rstrip("/")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    path = parts.path.rstrip("/")
    for suffix in ("/v1", "/v2"):
        if path.lower().endswith(suffix):
            path = path[: -len(suffix)]
    return f"{scheme}://{netloc}{path.rstrip('/')}"


def make(generation: str, base: str | None, account: str | None = None) -> dict[str, Any]:
    """The identity a run targets; `base` None means the built-in sandbox."""
    return {"generation": generation,
            "base": SANDBOX_BASE if base is None else normalise_base(base),
            "account": account}


def describe(identity: Mapping[str, Any]) -> str:
    """'the v2 API at https://api.jogg.ai (account a@b.c)' for messages."""
    where = ("the built-in sandbox" if identity.get("base") == SANDBOX_BASE
             else f"the {identity.get('generation')} API at {identity.get('base')}")
    if identity.get("account"):
        where += f" (account {identity['account']})"
    return where


def check(recorded: Mapping[str, Any] | None, target: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The identity to keep after comparing the state's with the run's target.

    A state without one (made before identities existed, or new) adopts the target; an
    account is adopted when first seen. Any real difference is a StateError naming both.
    """
    if recorded is None:
        return dict(target)
    if (recorded.get("generation"), recorded.get("base")) != (target["generation"], target["base"]):
        raise StateError(f"{where} was made against {describe(recorded)}, but this command "
                         f"targets {describe(target)}; its videos mean nothing there. "
                         "Use another --state, or the API the state belongs to")
    known, seen = recorded.get("account"), target.get("account")
    if known and seen and known != seen:
        raise StateError(f"{where} belongs to account {known}, but the API key is for account "
                         f"{seen}; use another --state, or that account's key")
    return {**recorded, "account": known or seen}


def check_shape(value: Any, where: str) -> dict[str, Any] | None:
    """An identity as loaded: None or an object of strings."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
            isinstance(value.get(f), str) for f in ("generation", "base")) or not isinstance(
            value.get("account"), (str, type(None))):
        raise StateError(f"{where}: 'identity' must be an object with string 'generation' "
                         "and 'base' and an optional string 'account'")
    feeds = value.get("feeds")
    if feeds is not None and not (isinstance(feeds, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in feeds.items())):
        raise StateError(f"{where}: 'identity.feeds' must map each feed to its content hash")
    return value
