"""The in-process sandbox's records, saved between runs of `apply --sandbox`.

JoggAI keeps a render going after the run that asked for it has ended; the in-process
sandbox would forget it with its process, and the next run would read "record not found"
for every render an interrupted or `--no-wait` run left behind. So its records are kept in
`.jogg-flow/NAME.sandbox-api.json` beside the manifest, written when the sandbox stops.
"""

from __future__ import annotations

import json
import os

from .backend import Backend


def path_for(manifest_file: str, name: str) -> str:
    """Where the sandbox of manifest `name` keeps its records."""
    return os.path.join(os.path.dirname(os.path.abspath(manifest_file)), ".jogg-flow",
                        f"{name}.sandbox-api.json")


def recall(backend: Backend, path: str) -> None:
    """Give a fresh sandbox the records a former one kept; a missing or damaged file
    leaves it empty, as a trial sandbox may well be (the state then starts those videos over)."""
    try:
        with open(path, encoding="utf-8") as fh:
            backend.restore(json.load(fh))
    except (OSError, ValueError, KeyError, TypeError):
        pass


def remember(backend: Backend, path: str) -> None:
    """Write the sandbox's records atomically (a crash leaves the former file whole)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(backend.snapshot(), fh, separators=(",", ":"))
    os.replace(tmp, path)
