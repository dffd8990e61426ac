"""Talking to JoggAI: one client per API generation behind one interface.

`open` is the seed's `/open` flow, `v2` JoggAI's current API. Each client offers the same
calls (create_product, update_product, submit_render, find_render, project_info, catalog)
over the transport in `http`, drawing POSTs from the budget in `budget`.
"""

from __future__ import annotations

from .budget import PostBudget
from .errors import ApiError
from .http import HttpClient, ProjectInfo
from .open import DEFAULT_BASE as DEFAULT_BASE_OPEN
from .open import OpenClient
from .v2 import DEFAULT_BASE_V2, V2Client

VERSIONS = ("open", "v2")
DEFAULT_BASES = {"open": DEFAULT_BASE_OPEN, "v2": DEFAULT_BASE_V2}
CLIENTS: dict[str, type[HttpClient]] = {"open": OpenClient, "v2": V2Client}

__all__ = ["CLIENTS", "DEFAULT_BASES", "VERSIONS", "ApiError", "HttpClient", "PostBudget",
           "ProjectInfo", "client_class"]


def client_class(version: str) -> type[HttpClient]:
    """The client for an `api.version`."""
    return CLIENTS[version]
