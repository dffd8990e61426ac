"""Waiting is explained (issue 23, item 12): the heartbeat says what a run waits for (the POST
budget, shared with other runs on the key; JoggAI's renders), and `apply --lock-timeout` waits
for a state another run holds instead of stopping at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from jogg_flow.api.errors import Cancelled
from tests.conftest import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "JOGG_FLOW_STATE": "", "NO_COLOR": "1"}
ENV.pop("JOGG_FLOW_STATE")
MANIFEST = ("version: 1\napi: {version: v1}\ndefaults:\n  render: {avatar_id: 37, script_style: Discovery}\n"
            "products:\n  - {key: blender, url: 'https://shop.example/blender'}\n")
# Holds the state's lock, as another apply would, until its stdin closes.
HOLDER = ("import sys; from jogg_flow.state.lock import Lock; lock = Lock(sys.argv[1]); lock.acquire(); "
          "print('held', flush=True); sys.stdin.read(); lock.release()")


def hold(spawn, state):
    """Another run holds the state's lock (until `release`)."""
    holder = spawn([sys.executable, "-c", HOLDER, state], stdin=subprocess.PIPE,
                   stdout=subprocess.PIPE, text=True, env=ENV)
    assert holder.stdout.readline() == "held\n"
    return holder


def release(holder):
    """The other run ends: its lock is released as it exits."""
    holder.stdin.close()
    assert holder.wait(timeout=30) == 0
    holder.stdout.close()


def jogg_flow(*args):
    return [sys.executable, "-m", "jogg_flow", *args]


def test_the_heartbeat_says_it_waits_for_the_post_budget_and_for_joggai(write, spawn):
    manifest = write("m.yaml", MANIFEST)
    # One POST per 4 s: the render waits for the create's slot to leave the window.
    proc = spawn(jogg_flow("apply", manifest, "--sandbox", "--post-rate", "1/4s", "--heartbeat", "0.2",
                           "--poll-interval", "0.2", "--poll-max", "0.2"),
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    beats = [line for line in out.splitlines() if line[9:].startswith("… ")]
    assert any("; 1 POST waiting for the POST budget (1 per 4 s, all used; the next slot in" in b
               for b in beats), beats
    assert any("1 rendering at JoggAI" in b and b.endswith("; waiting for JoggAI to finish 1 render")
               for b in beats), beats


def test_a_locked_state_names_the_unlock_command_with_the_runs_flags(write, spawn, tmp_path):
    manifest = write("m.yaml", MANIFEST)
    state = str(tmp_path / ".jogg-flow" / "m.sandbox.state.json")
    holder = hold(spawn, state)
    refused = subprocess.run(jogg_flow("apply", manifest, "--sandbox", "--yes", "--state", state),
                             capture_output=True, text=True, env=ENV, stdin=subprocess.DEVNULL, timeout=60)
    assert refused.returncode == 4
    assert refused.stderr.strip().endswith(
        f"if that run is gone, `jogg-flow unlock {manifest} --sandbox --state {state}` frees it")
    release(holder)


PREVIEWS = ("version: 1\napi: {version: v2}\ndefaults:\n  render:\n    avatar_id: 37\n"
            "    preview_styles: [Simple Product Switch, Dynamic Showcase]\n"
            "products:\n  - {key: mug, url: 'https://shop.example/mug'}\n")


@pytest.mark.parametrize("command, text", [("apply", MANIFEST), ("preview", PREVIEWS)])
def test_lock_timeout_waits_for_the_other_run(write, spawn, tmp_path, command, text):
    manifest = write("m.yaml", text)
    state = str(tmp_path / "s.json")
    holder = hold(spawn, state)
    waiting = spawn(jogg_flow(command, manifest, "--sandbox", "--yes", "--state", state, "--lock-timeout", "5m"),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    said = waiting.stderr.readline()
    assert said.startswith("waiting up to 300 s for the state's lock: state is locked by another run: pid "), said
    release(holder)  # the other run ends: this one goes on
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "1 succeeded" in out


@pytest.mark.parametrize("command, text", [("apply", MANIFEST), ("preview", PREVIEWS)])
def test_lock_timeout_gives_up_at_its_end(write, spawn, tmp_path, command, text):
    manifest = write("m.yaml", text)
    state = str(tmp_path / "s.json")
    holder = hold(spawn, state)
    gave_up = subprocess.run(jogg_flow(command, manifest, "--sandbox", "--yes", "--state", state,
                                       "--lock-timeout", "1s"),
                             capture_output=True, text=True, env=ENV, stdin=subprocess.DEVNULL, timeout=60)
    assert gave_up.returncode == 4
    assert "waited 1 s for it; if that run is gone, `jogg-flow unlock" in gave_up.stderr
    release(holder)


def _heartbeat(mine):
    """What `mine` says while a POST waits on it (the POST then cancelled)."""
    stopped = threading.Event()

    def post():
        with pytest.raises(Cancelled):
            with mine.slot():
                pass
        stopped.set()

    threading.Thread(target=post, daemon=True).start()
    deadline = time.monotonic() + 30
    while not mine.waits.text() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = mine.waits.text()
    mine.cancel()
    assert stopped.wait(30)
    return text


def test_the_shared_budget_says_how_much_other_runs_took(pg):
    from jogg_flow.state.budget_pg import PgPostBudget

    other, mine = PgPostBudget(pg, "jf-wait-key", limit=2, window=30), PgPostBudget(pg, "jf-wait-key", limit=2,
                                                                                 window=30)
    for _ in range(2):
        with other.slot():
            pass
    assert _heartbeat(mine).startswith("waiting for the shared POST budget: 2 of its 2 POSTs per 30 s were "
                                       "sent by other runs on this key; the next slot in ")
    other.close()
    mine.close()


def test_the_shared_budget_says_when_429s_lowered_its_limit(pg):
    from jogg_flow.state.budget_pg import PgPostBudget

    other, mine = PgPostBudget(pg, "jf-wait-key", limit=4, window=30), PgPostBudget(pg, "jf-wait-key", limit=4,
                                                                                 window=30)
    assert other.throttled() == 3  # a 429 to the other run, though the budget of 4 was kept
    for _ in range(3):
        with other.slot():
            pass
    text = _heartbeat(mine)
    assert text.startswith("waiting for the shared POST budget: 3 of its 3 POSTs per 30 s were "
                           "sent by other runs on this key; the next slot in ")
    assert text.endswith("; 3 in force, not the 4 asked: JoggAI answered 429s on this key within the "
                         "budget, so its real rate is lower (one back per quiet window)")
    other.close()
    mine.close()
