"""The live view on a real pseudo-terminal, read back through a terminal emulator (pyte).

At 40 and 80 columns with a 64-character key, every redraw must stay one screen line per
row (else moving up by the rows drawn leaves stale frames), and the last screen holds the
outcomes and the summary, with no header left over; on Ctrl-C the "stopping" line stays.
"""

from __future__ import annotations

import os
import re
import signal

import pytest

from jogg_flow.sandbox import Config, Sandbox
from tests.conftest import FAKE_KEY, ROOT
from tests.terminal import run_on_pty, set_size

pyte = pytest.importorskip("pyte", reason="the live-view tests need pyte (pip install -e '.[test]')")

LONG = "k" * 60 + "-abc"  # 64 characters
MANIFEST = f"""
version: 1
products:
  - key: {LONG}
    url: https://shop.example/long
""" + "".join(f"  - key: p{i}\n    url: https://shop.example/p{i}\n" for i in range(3))


def _run_on_terminal(tmp_path, columns: int, *, interrupt: bool = False,
                     resize_to: int | None = None) -> tuple[list[str], int]:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    env = {**os.environ, "JOGG_API_KEY": FAKE_KEY, "PYTHONPATH": str(ROOT), "TERM": "xterm",
           "NO_COLOR": "1", "COLUMNS": str(columns), "LINES": "30"}
    env.pop("GITHUB_ACTIONS", None)
    screen = pyte.Screen(columns, 30)
    stream = pyte.ByteStream(screen)
    with Sandbox(Config(time_scale=60.0, render_seconds=240.0 if interrupt else 120.0)) as sb:
        sent = False

        def react(proc, master, chunk, seen):
            nonlocal sent
            stream.feed(chunk)
            if not sent and b"0/4 done" in seen:  # the live view is up
                if interrupt:
                    proc.send_signal(signal.SIGINT)
                if resize_to:  # as a user dragging the window narrower: the next draw must fit
                    set_size(master, resize_to)
                    screen.resize(30, resize_to)
                sent = True

        _, code = run_on_pty(["apply", str(manifest), "--api-base", sb.url, "--state", str(tmp_path / "s.json"),
                              "--poll-interval", "0.2", "--poll-max", "0.3", "--yes"],
                             env, react, columns=columns, guard=90)
    return [line.rstrip() for line in screen.display], code


def _shown(lines: list[str]) -> list[str]:
    return [line for line in lines if line]


@pytest.mark.parametrize("columns", [40, 80])
def test_the_last_frame_is_clean_at_any_width(tmp_path, columns):
    lines, code = _run_on_terminal(tmp_path, columns)
    assert code == 0, lines
    shown = _shown(lines)
    assert not any(line.startswith("[0:") for line in shown), shown  # no stale header
    # no stale rows (a live row is indented; the preflight line also says "renders")
    assert not any(line.startswith("  ") and ("queued" in line or "render" in line) for line in shown), shown
    outcomes = [line for line in shown if line.startswith("succeeded")]
    # the 64-character key's outcome wraps (it scrolls, it is not redrawn): 4 outcomes start a line
    assert len(outcomes) == 4, shown
    assert shown[-1].startswith("4 succeeded in "), shown


def test_a_resize_is_followed(tmp_path):
    lines, code = _run_on_terminal(tmp_path, 80, resize_to=40)
    shown = _shown(lines)
    assert code == 0, shown
    assert not any(line.startswith("[0:") or "queued" in line for line in shown), shown
    assert shown[-1].startswith("4 succeeded in "), shown


def test_ctrl_c_keeps_the_stopping_line_and_leaves_no_header(tmp_path):
    lines, code = _run_on_terminal(tmp_path, 80, interrupt=True)
    shown = _shown(lines)
    assert code == 130, shown
    assert any(line.startswith("stopping: finishing calls under way") for line in shown), shown
    assert not any(line.startswith("[0:") for line in shown), shown


def test_ctrl_c_says_stopping_after_the_outcomes_and_before_the_summary(tmp_path):
    lines, code = _run_on_terminal(tmp_path, 200, interrupt=True)
    shown = _shown(lines)
    assert code == 130, shown
    stopping = [i for i, line in enumerate(shown) if line.startswith("stopping: finishing calls under way")]
    outcomes = [i for i, line in enumerate(shown) if line.startswith("pending ")]
    summary = [i for i, line in enumerate(shown) if line.startswith("4 pending in ")]
    assert len(stopping) == 1 and len(outcomes) == 4 and len(summary) == 1, shown
    assert max(outcomes) < stopping[0] < summary[0], shown


V1 = f"""
version: 1
api: {{version: v1}}
defaults:
  render: {{avatar_id: 37, script_style: Discovery}}
products:
  - key: {LONG}
    url: https://shop.example/long
  - key: p0
    url: https://shop.example/p0
"""


@pytest.mark.parametrize("columns", [50, 80])
def test_v1_renders_show_their_time_and_long_keys_keep_the_status_in_view(tmp_path, columns):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(V1)
    env = {**os.environ, "JOGG_API_KEY": FAKE_KEY, "PYTHONPATH": str(ROOT), "TERM": "xterm",
           "NO_COLOR": "1", "COLUMNS": str(columns), "LINES": "30"}
    env.pop("GITHUB_ACTIONS", None)
    screen = pyte.Screen(columns, 30)
    stream = pyte.ByteStream(screen)
    frames: list[list[str]] = []

    def react(proc, master, chunk, seen):
        stream.feed(chunk)
        if chunk and b"typically" in chunk:  # a frame with a render under way: as the person saw it
            frames.append([line.rstrip() for line in screen.display])

    with Sandbox(Config(time_scale=60.0, render_seconds=180.0)) as sb:
        _, code = run_on_pty(["apply", str(manifest), "--api-base", sb.url, "--state", str(tmp_path / "s.json"),
                              "--poll-interval", "0.2", "--poll-max", "0.3", "--yes"],
                             env, react, columns=columns, guard=90)
    assert code == 0
    # The last frame showing the long key's render (the two renders need not end together).
    frame = next((f for f in reversed(frames) if any(line.startswith("  kkkk") for line in f)), None)
    assert frame is not None, frames
    header = [line for line in frame if line.startswith("[0:")]
    assert header and " ETA " in header[0], frame  # the header carries the ETA
    rows = [line for line in frame if line.startswith("  ") and "rendering" in line]
    assert rows, frame
    for row in rows:
        assert "%" not in row  # v1 gives no figure: no "rendering 0%"
        # the status column is whole: time so far, and the typical time it is measured against
        assert re.search(r" rendering \d+:\d\d \(typically \d+:\d\d\)$", row), frame
    long_rows = [row for row in rows if row.startswith("  kkkk")]
    key = long_rows[0].split()[0] if long_rows else ""
    assert "…" in key and key.endswith("-abc") and len(key) <= 30, frame  # cut in the middle, its end kept
