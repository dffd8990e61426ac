"""A JoggAI-compatible API on 127.0.0.1: the product flows of three generations (`/open/...`,
`/v1/...` and `/v2/...`)
with JoggAI's envelope, codes, POST budget and render statuses, a scaled clock and
injectable faults.

It fetches nothing: product details are derived from the URL. `GET /_sandbox/stats`
reports counters (renders accepted per project, among others) that tests use to prove
exactly-once behaviour; `POST /_sandbox/faults` adds faults at run time.
"""

from typing import TYPE_CHECKING, Any

from .backend import FAULT_KINDS, GENERATIONS, ApiFailure, Backend, Config, Fault, realistic

if TYPE_CHECKING:
    from .server import Sandbox

__all__ = ["FAULT_KINDS", "GENERATIONS", "ApiFailure", "Config", "Fault", "Sandbox", "Backend", "realistic"]


def __getattr__(name: str) -> Any:
    # The HTTP side (http.server, socketserver) loads only when asked for, so that
    # `validate` and `plan`, which import the CLI, start without it.
    if name == "Sandbox":
        from .server import Sandbox

        return Sandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
