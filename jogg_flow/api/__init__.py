"""Talking to JoggAI: one client per API generation behind one interface.

`open` is the seed's `/open` flow, `v1` what JoggAI's own integrations call, `v2` JoggAI's
current docs. Each client offers the same calls (create_product, update_product,
submit_render, find_render, project_info, catalog) over the transport in `http`, drawing
POSTs from the budget in `budget`.

Importing this package loads no HTTP stack: the clients (and requests with them) load when
a client is asked for, so `plan` and a no-op `apply` never pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .budget import PostBudget
from .errors import ApiError
from .generations import DEFAULT_BASES, GENERATIONS, VERSIONS, Generation, generation, resolve_base

if TYPE_CHECKING:
    from .http import HttpClient, ProjectInfo

__all__ = ["CLIENTS", "DEFAULT_BASES", "GENERATIONS", "VERSIONS", "ApiError", "Generation", "HttpClient",
           "PostBudget", "ProjectInfo", "client_class", "clients", "generation", "resolve_base"]


def clients() -> dict[str, type[HttpClient]]:
    """Every generation's client class, by `api.version` (imports the HTTP stack)."""
    return {name: client_class(name) for name in GENERATIONS}


def client_class(version: str) -> type[HttpClient]:
    """The client for an `api.version`."""
    module, name = generation(version).client_path.split(":")
    cls: type[HttpClient] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return cls


def __getattr__(name: str) -> Any:
    # The names that need the HTTP stack, loaded on first use.
    if name == "CLIENTS":
        return clients()
    if name in ("HttpClient", "ProjectInfo"):
        from . import http

        return getattr(http, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
