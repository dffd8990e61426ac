"""Child processes of the tests: Ctrl-C reaches them as it would from a terminal, and none
outlives its test.

pytest started as a background job (`pytest &`, a CI step, a nohup) has SIGINT ignored, and
its children inherit that: a Python child then never turns SIGINT into KeyboardInterrupt,
so a test that stops its child with SIGINT would hang and leak it. `default_sigint` gives
the child the default handler back before it starts; `Children` kills what is left.
"""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def default_sigint() -> None:
    """Run in the child before exec: SIGINT as a terminal gives it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Children:
    """Starts processes (as subprocess.Popen) and, on `reap`, kills and waits for every one
    still running."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[Any]] = []

    def __call__(self, args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("preexec_fn", default_sigint)
        # No terminal on stdin unless a test gives one: under `pytest -s` at a terminal an
        # apply would otherwise stop at its question, as it does for a person.
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc: subprocess.Popen[Any] = subprocess.Popen(args, **kwargs)
        self.started.append(proc)
        return proc

    def reap(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.communicate(timeout=30)
            except (ValueError, OSError, subprocess.TimeoutExpired):
                pass  # pipes already read and closed by the test
