"""Output that cannot be written stops `apply` cleanly: state saved, lock released, exit 141.

Real processes: `python -m jogg_flow apply ...` whose stdout is a pipe closed after the first
line (`| head -1`) or a pseudo-terminal whose other end goes away.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from jogg_flow.sandbox import Config, Sandbox
from tests.conftest import FAKE_KEY, ROOT

MANIFEST = """
version: 1
products:
""" + "".join(f"  - key: p{i}\n    url: https://shop.example/p{i}\n" for i in range(6))


def _command(manifest: str, state: str, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jogg_flow", "apply", manifest, "--api-base", url, "--state", state,
            "--poll-interval", "0.05", "--poll-max", "0.1", "--yes", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "JOGG_API_KEY": FAKE_KEY, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


def _assert_clean_stop(proc: subprocess.Popen[bytes], state: str, manifest: str, url: str) -> None:
    _, err = proc.communicate(timeout=60)  # a guard against the old hang, not a timing test
    stderr = err.decode(errors="replace")
    assert proc.returncode == 141, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert "output closed" in stderr
    if os.path.exists(state):  # a run stopped before it journaled anything writes none
        with open(state) as fh:
            json.load(fh)
    # The lock is free: a second run takes it and collects what the first one submitted.
    again = subprocess.run(_command(manifest, state, url, "-q"), env=_env(), capture_output=True,
                           timeout=60)
    assert again.returncode == 0, again.stderr.decode()


@pytest.mark.parametrize("form", [("-vv",), ("--output", "json")])
def test_a_closed_pipe_stops_apply_within_seconds(form, tmp_path):
    manifest, state = str(tmp_path / "m.yaml"), str(tmp_path / "st" / "s.json")
    (tmp_path / "m.yaml").write_text(MANIFEST)
    with Sandbox(Config(time_scale=60.0, render_seconds=120.0)) as sb:
        proc = subprocess.Popen(_command(manifest, state, sb.url, *form), env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.readline()
        proc.stdout.close()  # `| head -1`
        _assert_clean_stop(proc, state, manifest, sb.url)


def test_a_vanished_terminal_stops_the_live_view(tmp_path):
    manifest, state = str(tmp_path / "m.yaml"), str(tmp_path / "st" / "s.json")
    (tmp_path / "m.yaml").write_text(MANIFEST)
    with Sandbox(Config(time_scale=60.0, render_seconds=120.0)) as sb:
        master, slave = pty.openpty()
        proc = subprocess.Popen(_command(manifest, state, sb.url), env={**_env(), "TERM": "xterm"},
                                stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        assert os.read(master, 100)  # the live view has drawn
        os.close(master)  # the terminal goes away: writes now fail with EIO
        _assert_clean_stop(proc, state, manifest, sb.url)
