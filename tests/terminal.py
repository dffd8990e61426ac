"""Run `jogg-flow` on a real pseudo-terminal, as a person at a terminal would."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO

from tests.processes import default_sigint

# Called after every wait for output: (the process, the terminal's master side, what was
# read this time (b"" if nothing), everything read so far).
React = Callable[[subprocess.Popen[bytes], int, bytes, bytes], None]


def set_size(fd: int, columns: int, rows: int = 30) -> None:
    """Give the terminal a size (a window dragged narrower, when called on a running one)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def run_on_pty(args: list[str], env: Mapping[str, str], react: React, *, columns: int | None = None,
               stdin_tty: bool = True, piped: bytearray | None = None, stderr_too: bool = False,
               guard: float = 120.0) -> tuple[bytes, int]:
    """Run `python -m jogg_flow ARGS` with stdout and stderr (and stdin unless `stdin_tty` is
    False) on a pseudo-terminal until it ends; returns (all it wrote there, exit code).
    With `piped`, stdout is a pipe instead (`jogg-flow ... | tee log` typed at a terminal)
    and what came through it is appended to `piped`; `stderr_too` sends stderr there as well
    (`jogg-flow ... > log 2>&1`)."""
    master, slave = pty.openpty()
    if columns:
        set_size(slave, columns)
    proc = subprocess.Popen([sys.executable, "-m", "jogg_flow", *args], env=dict(env),
                            stdin=slave if stdin_tty else subprocess.DEVNULL,
                            stdout=slave if piped is None else subprocess.PIPE,
                            stderr=subprocess.STDOUT if stderr_too else slave,
                            start_new_session=True, preexec_fn=default_sigint)
    os.close(slave)
    reader = None
    if piped is not None:
        assert proc.stdout is not None
        reader = threading.Thread(target=_collect, args=(proc.stdout, piped), daemon=True)
        reader.start()
    try:
        return _drive(proc, master, react, guard)
    finally:
        if proc.poll() is None:  # a hang the guard ended: never leave the child behind
            proc.kill()
            proc.wait(timeout=30)
        os.close(master)
        if reader is not None:
            reader.join(timeout=30)
            assert proc.stdout is not None
            proc.stdout.close()


def _collect(pipe: IO[bytes], into: bytearray) -> None:
    """Read the pipe to its end (a reader that keeps up, as `tee` does)."""
    for chunk in iter(lambda: os.read(pipe.fileno(), 65536), b""):
        into.extend(chunk)


def _drive(proc: subprocess.Popen[bytes], master: int, react: React, guard: float) -> tuple[bytes, int]:
    seen = b""
    deadline = time.monotonic() + guard  # a guard against a hang, not a timing assertion
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        chunk = b""
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        react(proc, master, chunk, seen)
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=30)
    return seen, proc.returncode
