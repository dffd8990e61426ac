"""Talking to JoggAI: one client per API generation behind one interface.

`open` is the seed's `/open` flow, `v1` what JoggAI's own integrations call, `v2` JoggAI's
current docs. Each client offers the same calls (create_product, update_product,
submit_render, find_render, project_info, catalog) over the transport in `http`, drawing
POSTs from the budget in `budget`.
"""

from __future__ import annotations

from collections.abc import Mapping

from .budget import PostBudget
from .errors import ApiError
from .http import HttpClient, ProjectInfo
from .open import DEFAULT_BASE as DEFAULT_BASE_OPEN
from .open import OpenClient
from .v1 import DEFAULT_BASE_V1, V1Client
from .v2 import DEFAULT_BASE_V2, V2Client

VERSIONS = ("open", "v1", "v2")
DEFAULT_BASES = {"open": DEFAULT_BASE_OPEN, "v1": DEFAULT_BASE_V1, "v2": DEFAULT_BASE_V2}
CLIENTS: dict[str, type[HttpClient]] = {"open": OpenClient, "v1": V1Client, "v2": V2Client}

__all__ = ["CLIENTS", "DEFAULT_BASES", "VERSIONS", "ApiError", "HttpClient", "PostBudget",
           "ProjectInfo", "client_class", "resolve_base"]


def client_class(version: str) -> type[HttpClient]:
    """The client for an `api.version`."""
    return CLIENTS[version]


def resolve_base(version: str, flag: str | None, environ: Mapping[str, str],
                 manifest_base: str | None) -> str:
    """The base URL a run talks to: `--api-base`, then JOGG_API_BASE, then the manifest's
    `api.base_url`, then the generation's documented host."""
    return flag or environ.get("JOGG_API_BASE") or manifest_base or DEFAULT_BASES[version]
