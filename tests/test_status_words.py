"""One status vocabulary (README, "Statuses") in every command's output,
through real processes against a sandbox on 127.0.0.1."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import jsonschema
import pytest

from jogg_flow.engine.events import Event
from jogg_flow.sandbox import Config, Fault, Sandbox
from jogg_flow.state import State, status
from jogg_flow.ui.progress import Reporter
from tests.conftest import FAKE_KEY, ROOT

EVENTS = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "events.schema.json").read_text()))
# The words an in-flight or never-reached video had before one vocabulary.
RETIRED = re.compile(r"\b(submitted|running|interrupted|waiting|absent)\b")
MANIFEST = """version: 1
products:
  - key: kettle
    url: https://shop.example/kettle
  - key: toaster
    url: https://shop.example/toaster
    variants:
      - name: a
      - name: b
"""
FAST = ("--post-rate", "20/1s", "--poll-interval", "0.1", "--poll-max", "0.3")


def jf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a process of its own."""
    return subprocess.run([sys.executable, "-m", "jogg_flow", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "JOGG_API_KEY": FAKE_KEY, **(env or {})})


@pytest.fixture
def paths(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    return str(manifest), str(tmp_path / "state.json")


@pytest.fixture
def slow():
    """Renders of 30 real seconds: a test never sees them finish."""
    with Sandbox(Config(time_scale=1.0, render_seconds=30.0)) as sb:
        yield sb


def _events(stdout: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in stdout.splitlines()]
    for event in events:
        EVENTS.validate(event)
    return events


def _videos(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["key"]: e for e in events if e["event"] == "video"}


def _no_retired_words(*texts: str) -> None:
    for text in texts:
        assert not RETIRED.search(text), text


def _views(manifest: str, state: str, url: str, tmp_path) -> dict[str, str]:
    """What outputs (every format), the gallery and state list say of the videos."""
    shown = {}
    for fmt in ("text", "json", "csv"):
        shown[fmt] = jf("outputs", manifest, "--state", state, "--api-base", url, "--output", fmt).stdout
    page = tmp_path / "gallery.html"
    assert jf("outputs", manifest, "--state", state, "--api-base", url, "--output", "html",
              "--out", str(page)).returncode == 0
    shown["html"] = page.read_text()
    shown["list"] = jf("state", "list", manifest, "--state", state).stdout
    shown["list-json"] = jf("state", "list", manifest, "--state", state, "--output", "json").stdout
    return shown


def test_no_wait_leaves_renders_rendering_everywhere_and_exits_0(paths, slow, tmp_path):
    manifest, state = paths
    result = jf("apply", manifest, "--api-base", slow.url, "--state", state, "--no-wait", *FAST,
                "--output", "json")
    assert result.returncode == 0, result.stderr
    videos = _videos(_events(result.stdout))
    assert {v["status"] for v in videos.values()} == {"rendering"}
    assert all(v["message"] == "--no-wait: a later apply collects it" for v in videos.values())
    text = jf("apply", manifest, "--api-base", slow.url, "--state", state, "--no-wait", *FAST)
    assert text.returncode == 0
    assert re.search(r"rendering +kettle  --no-wait: a later apply collects it", text.stdout), text.stdout
    shown = _views(manifest, state, slow.url, tmp_path)
    assert [r["status"] for r in json.loads(shown["json"])] == ["rendering"] * 3
    assert shown["csv"].count(",rendering,") == 3
    assert shown["html"].count('data-status="rendering"') == 3
    assert "kettle\trendering\t" in shown["list"]
    assert {r["status"] for r in json.loads(shown["list-json"])} == {"rendering"}
    _no_retired_words(result.stdout, result.stderr, text.stdout, text.stderr, *shown.values())


def test_a_timeout_leaves_renders_rendering_and_exits_1_with_warnings_in_ci(paths, slow, tmp_path):
    manifest, state = paths
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)}
    result = jf("apply", manifest, "--api-base", slow.url, "--state", state, "--timeout", "0.5", *FAST,
                "--heartbeat", "0", env=env)
    assert result.returncode == 1, result.stderr
    assert re.search(r"rendering +kettle  still rendering after --timeout 0\.5 s; a later apply collects it",
                     result.stdout), result.stdout
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert len(annotations) == 3 and all(a.startswith("::warning ") and ": rendering: " in a
                                         for a in annotations), annotations
    assert "| `kettle` | rendering |" in summary.read_text()
    assert outputs.read_text().startswith("rendering=3\n")
    as_json = jf("apply", manifest, "--api-base", slow.url, "--state", state, "--timeout", "0.2", *FAST,
                 "--output", "json")
    assert as_json.returncode == 1
    assert {v["status"] for v in _videos(_events(as_json.stdout)).values()} == {"rendering"}
    _no_retired_words(result.stdout, result.stderr, summary.read_text(), outputs.read_text(),
                      as_json.stdout, as_json.stderr)


def test_a_sigint_leaves_rendering_and_pending_videos_and_exits_130(paths, tmp_path, spawn):
    manifest, state = paths
    # One worker and a slow POST budget: when the first render is sent, the others still wait.
    with Sandbox(Config(time_scale=1.0, render_seconds=30.0)) as sb:
        proc = spawn(
            [sys.executable, "-m", "jogg_flow", "apply", manifest, "--api-base", sb.url, "--state", state,
             "--post-rate", "2/30s", "--poll-interval", "0.1", "--poll-max", "0.3", "--parallelism", "1",
             "--output", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "JOGG_API_KEY": FAKE_KEY})
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if '"step": "render"' in line:
                break
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        events = _events("".join(lines) + rest)
        videos = _videos(events)
        assert {k: v["status"] for k, v in videos.items()} == {
            "kettle": "rendering", "toaster/a": "pending", "toaster/b": "pending"}, videos
        assert videos["kettle"]["message"] == "stopped; the next apply collects it"
        assert events[-1]["event"] == "error" and events[-1]["exit_code"] == 130
        assert err.rstrip().endswith("error: stopped by a signal; the state is saved and the next apply resumes")
        shown = _views(manifest, state, sb.url, tmp_path)
        assert [r["status"] for r in json.loads(shown["json"])] == ["rendering", "pending", "pending"]
        assert shown["html"].count('data-status="pending"') == 2
        _no_retired_words("".join(lines), rest, err, *shown.values())


def test_a_video_never_applied_and_an_old_new_record_are_pending(paths, tmp_path):
    manifest, state = paths
    with Sandbox(Config(time_scale=60.0, render_seconds=3.0)) as sb:
        assert jf("apply", manifest, "--api-base", sb.url, "--state", state, "--select", "kettle",
                  *FAST, "-q").returncode == 0
        store = State.load(state)
        store.put("toaster/a", {"key": "toaster/a", "status": "new", "steps": {}})  # as 0.x wrote it
        store.save()
        shown = _views(manifest, state, sb.url, tmp_path)
        rows = {r["key"]: r["status"] for r in json.loads(shown["json"])}
        assert rows == {"kettle": "succeeded", "toaster/a": "pending", "toaster/b": "pending"}
        assert 'data-key="toaster/b" data-status="pending"' in shown["html"]
        assert "toaster/a\tpending\t-" in shown["list"]
        shown_record = json.loads(jf("state", "show", manifest, "toaster/a", "--state", state).stdout)
        assert shown_record["status"] == "pending" and shown_record["steps"] == {}
        _no_retired_words(*shown.values())
        again = jf("apply", manifest, "--api-base", sb.url, "--state", state, *FAST, "--output", "json")
        assert again.returncode == 0, again.stderr
        assert {v["status"] for v in _videos(_events(again.stdout)).values()} == {"succeeded", "up-to-date"}


def test_the_vocabulary_reads_older_words():
    assert status.of_record(None) == "pending"
    assert status.of_record({"status": "new"}) == "pending"
    assert status.of_record({"status": "interrupted", "steps": {"render": "done"}}) == "rendering"
    assert status.of_record({"status": "interrupted", "steps": {}}) == "pending"
    assert status.of_record({"status": "needs-check"}) == "needs-check"


def test_the_schema_names_exactly_the_vocabulary_for_video_events():
    schema = json.loads((ROOT / "schemas" / "events.schema.json").read_text())
    (video,) = [c["then"] for c in schema["allOf"] if c["if"]["properties"]["event"]["const"] == "video"]
    during_a_run = {status.Status.QUEUED, status.Status.SUBMITTING}  # the live view's, never an outcome
    assert set(video["properties"]["status"]["enum"]) == set(status.STATUSES) - during_a_run
    assert schema["properties"]["v"]["const"] == 2


def test_api_errors_say_each_thing_once_naming_the_video_and_the_host(paths):
    """A refused key, a 5xx storm, answers lost on a closed connection, a gateway's 401, a
    render gone: one line per video with its key and the API host, no phrase said twice."""
    manifest, state = paths
    faults = (Fault("code_10105", "POST *", times=99), Fault("http_500", "POST *", times=999),
              Fault("reset_before", "POST *", times=99), Fault("bare_401", "POST *", times=99),
              Fault("code_10104", "GET /open/prj_info", times=99))  # a render gone while polled
    for n, fault in enumerate(faults):
        with Sandbox(Config(time_scale=60.0, faults=[fault])) as sb:
            result = jf("apply", manifest, "--api-base", sb.url, "--state", f"{state}.{n}", *FAST,
                        "--heartbeat", "0")
            assert result.returncode == 1, (fault, result.stderr)
            outcomes = [line for line in result.stdout.splitlines()
                        if re.match(r"\S+ (error|failed|needs-check) ", line)]
            assert outcomes, (fault, result.stdout)
            for line in outcomes:
                assert f"[API {sb.url}]" in line and line.count(sb.url) == 1, line
            for line in (result.stdout + result.stderr).splitlines():
                assert line.count("may or may not") <= 1, line
                assert line.count("JoggAI error") <= 1 and line.count("(rid ") <= 1, line
                assert not re.search(r"((?:GET|POST) /\S+: ).*\1", line), line  # no route said twice


def test_a_closed_port_is_named_once_per_line(paths):
    manifest, state = paths
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening: refused
        result = jf("apply", manifest, "--api-base", closed, "--state", state, "--heartbeat", "0")
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).splitlines()
    assert lines[-1] == f"error: GET /open/avatar: cannot connect to {closed} (Connection refused)", lines
    for line in lines:  # the retries of the free read before any POST: no video yet
        assert line.count(closed) == 1 and line.count("GET /open/avatar") == 1, line


def test_heartbeat_and_live_view_speak_the_vocabulary():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    events: list[Event] = [{"event": "plan", "key": "old", "action": "wait"},
              {"event": "plan", "key": "new", "action": "create"},
              {"event": "plan", "key": "next", "action": "create"},
              {"event": "step", "key": "new", "step": "create"}]
    log, screen = io.StringIO(), Tty()
    beating = Reporter("text", log, heartbeat=0.05, environ={})
    ticks = itertools.count()  # a second between two events: every one redraws the block
    live = Reporter("text", screen, environ={"NO_COLOR": "1"}, clock=lambda: float(next(ticks)))
    for event in events:
        beating(event)
        live(event)
    deadline = time.monotonic() + 30
    while "… " not in log.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    live({"event": "poll", "key": "old", "remote_status": "pending", "progress": 0})
    beating.close()
    live.close()
    assert "… 0/3 done, 1 rendering at JoggAI, 1 submitting, 1 queued, ETA unknown" in log.getvalue()
    # no progress figure (0): the time so far, against the typical render time
    assert re.search(r"old +rendering 0:\d\d \(typically 5:00\)", screen.getvalue()), screen.getvalue()
    assert re.search(r"new +submitting: create", screen.getvalue()), screen.getvalue()
    assert re.search(r"next +queued", screen.getvalue()), screen.getvalue()
    _no_retired_words(log.getvalue(), screen.getvalue())
