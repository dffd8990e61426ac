"""A JoggAI-compatible API on 127.0.0.1: both product flows (`/open/...` and `/v2/...`)
with JoggAI's envelope, codes, POST budget and render statuses, a scaled clock and
injectable faults.

It fetches nothing: product details are derived from the URL. `GET /_sandbox/stats`
reports counters (renders accepted per project, among others) that tests use to prove
exactly-once behaviour; `POST /_sandbox/faults` adds faults at run time.
"""

from .server import Sandbox
from .store import FAULT_KINDS, ApiFailure, Config, Fault, Store

__all__ = ["FAULT_KINDS", "ApiFailure", "Config", "Fault", "Sandbox", "Store"]
