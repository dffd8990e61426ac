"""The in-process sandbox's records, saved between runs of `apply --sandbox`.

JoggAI keeps a render going after the run that asked for it has ended; the in-process
sandbox would forget it with its process, and the next run would read "record not found"
for every render an interrupted, killed or `--no-wait` run left behind. So its records are
kept beside the manifest as the state is: each record that changes is a line of
`.jogg-flow/NAME.sandbox-api.journal`, synced to disk before the answer that reports it is
sent (as JoggAI commits before it answers), and `NAME.sandbox-api.json` holds them all
(written atomically) when a sandbox starts and stops. After `kill -9` at any instant, the
snapshot and the journal hold every record whose answer a client could have read.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

from .backend import KEPT, Backend


def path_for(manifest_file: str, name: str) -> str:
    """Where the sandbox of manifest `name` keeps its records."""
    return os.path.join(os.path.dirname(os.path.abspath(manifest_file)), ".jogg-flow",
                        f"{name}.sandbox-api.json")


def journal_for(path: str) -> str:
    """The journal beside the snapshot at `path`."""
    return path.removesuffix(".json") + ".journal"


@contextlib.contextmanager
def kept(backend: Backend, path: str) -> Iterator[None]:
    """Give a fresh sandbox the records former ones kept, and keep each record it changes
    from then on; on the way out, fold them all into the snapshot."""
    recall(backend, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    remember(backend, path)  # folds the journal in: the next lines follow this snapshot
    fd = os.open(journal_for(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    _fsync_dir(os.path.dirname(path))

    def keep(table: str, key: Any, value: Any) -> None:
        line = {"t": table, "k": key, "v": value, "api_now": backend.now(), "wall": time.time()}
        _write_all(fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())
        os.fsync(fd)

    backend.keeper = keep
    try:
        yield
    finally:
        with backend.lock:
            backend.keeper = None
        os.close(fd)
        remember(backend, path)


def recall(backend: Backend, path: str) -> None:
    """Give a fresh sandbox the records a former one kept: its snapshot, then its journal's
    lines. A damaged snapshot or line is skipped, as a trial sandbox may well lose records
    (the state then starts those videos over)."""
    tables: dict[str, dict[Any, Any]] = {name: {} for name in KEPT}
    clock: tuple[float, float] | None = None  # (wall time, API time) of the newest record
    try:
        with open(path, encoding="utf-8") as fh:
            snap = json.load(fh)
        if snap.get("version") == 1:
            for name in KEPT:  # a table newer than the snapshot (uploads) starts empty
                tables[name].update({k: v for k, v in snap.get(name, [])})
            clock = (float(snap["wall"]), float(snap["api_now"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        tables = {name: {} for name in KEPT}
    for line in _journal_lines(journal_for(path)):
        tables[line["t"]][line["k"]] = line["v"]
        if clock is None or line["wall"] >= clock[0]:
            clock = (line["wall"], line["api_now"])
    if clock is not None:
        backend.restore({"version": 1, "wall": clock[0], "api_now": clock[1],
                         **{name: list(tables[name].items()) for name in KEPT}})


def _journal_lines(path: str) -> Iterator[dict[str, Any]]:
    """The journal's whole, well-formed lines (a line torn by a crash was never answered)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return
    for text in raw.split(b"\n")[:-1]:  # after the last newline: a torn line, or nothing
        try:
            line = json.loads(text)
            if (line["t"] in KEPT and isinstance(line["k"], int | str)
                    and isinstance(line["wall"], int | float) and isinstance(line["api_now"], int | float)):
                yield line
        except (ValueError, KeyError, TypeError):
            continue


def remember(backend: Backend, path: str) -> None:
    """Write the sandbox's records atomically (a crash leaves the former file whole), then
    empty the journal they include."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(backend.snapshot(), fh, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))
    # A crash before this truncation replays lines the snapshot already holds: the same values.
    os.close(os.open(journal_for(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _fsync_dir(path: str) -> None:
    """Make a rename or a new file in `path` durable (not possible on Windows: skipped)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
