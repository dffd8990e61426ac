"""A JoggAI-compatible API on 127.0.0.1: the product flows of three generations (`/open/...`,
`/v1/...` and `/v2/...`)
with JoggAI's envelope, codes, POST budget and render statuses, a scaled clock and
injectable faults.

It fetches nothing: product details are derived from the URL. `GET /_sandbox/stats`
reports counters (renders accepted per project, among others) that tests use to prove
exactly-once behaviour; `POST /_sandbox/faults` adds faults at run time.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import FAULT_KINDS, GENERATIONS, ApiFailure, Backend, Config, Fault, realistic
    from .server import Sandbox

__all__ = ["FAULT_KINDS", "GENERATIONS", "ApiFailure", "Config", "Fault", "Sandbox", "Backend", "realistic"]


def __getattr__(name: str) -> Any:
    # The sandbox loads only when asked for: a run against JoggAI that reads where the
    # sandbox keeps its records (`saved`), and the commands that never start it, go without
    # its backend and its HTTP side (http.server, socketserver).
    if name in __all__:
        home = "server" if name == "Sandbox" else "backend"
        return getattr(importlib.import_module(f"{__name__}.{home}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
