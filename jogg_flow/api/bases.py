"""Where each API generation lives, and which base URL a run talks to: no HTTP stack here,
so `plan` and a no-op `apply` resolve a state's API identity without importing one."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

DEFAULT_BASE_OPEN = "https://api-services.jogg.ai"
DEFAULT_BASE_V1 = "https://api.jogg.ai"
DEFAULT_BASE_V2 = "https://api.jogg.ai"
VERSIONS = ("open", "v1", "v2")
DEFAULT_BASES = {"open": DEFAULT_BASE_OPEN, "v1": DEFAULT_BASE_V1, "v2": DEFAULT_BASE_V2}


def resolve_base(version: str, flag: str | None, environ: Mapping[str, str],
                 manifest_base: str | None) -> str:
    """The base URL a run talks to: `--api-base`, then JOGG_API_BASE, then the manifest's
    `api.base_url`, then the generation's documented host."""
    return flag or environ.get("JOGG_API_BASE") or manifest_base or DEFAULT_BASES[version]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: a key sent there never leaves the machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
