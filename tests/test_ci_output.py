"""Output modes through the CLI: JSON events against their schema, GitHub Actions files and
annotations, downloads that resume, the live terminal view, init and state commands."""

from __future__ import annotations

import io
import itertools
import json
import pathlib
import threading
from typing import cast

import jsonschema
import pytest

from jogg_flow.engine.events import Event
from jogg_flow.sandbox import Fault, media
from jogg_flow.ui.github import summary_markdown
from jogg_flow.ui.progress import Reporter
from tests.conftest import FAKE_KEY, ROOT

EVENTS = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "events.schema.json").read_text()))
MANIFEST = """
version: 1
products:
  - key: blender
    url: https://www.amazon.com/dp/B000000001
    details: {title: PowerBlend}
  - key: kettle
    url: https://www.amazon.com/dp/B000000002
"""


@pytest.fixture
def apply(run, sandbox, tmp_path):
    def _apply(manifest: str, *extra: str, env: dict[str, str] | None = None):
        return run("apply", manifest, "--api-base", sandbox.url, "--post-rate", "20/1s",
                   "--poll-interval", "0.05", "--poll-max", "0.3", "--state",
                   str(tmp_path / "state.json"), *extra, env={"JOGG_API_KEY": FAKE_KEY, **(env or {})})
    return _apply


def test_json_events_follow_the_published_schema(apply, write, sandbox, tmp_path):
    sandbox.add_fault(Fault("http_500", "GET *"))
    sandbox.add_fault(Fault("drop_after_commit", "POST /open/project/render"))
    result = apply(write("m.yaml", MANIFEST), "--output", "json", "-v", "--download", str(tmp_path / "dl"))
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    for event in events:
        EVENTS.validate(event)
    kinds = {e["event"] for e in events}
    assert {"plan", "step", "retry", "poll", "adopted", "video", "download", "summary"} <= kinds
    assert events[-1]["event"] == "summary" and events[-1]["exit_code"] == 0


def test_github_annotation_for_a_bad_field_points_at_its_line(run, write):
    path = write("bad.yaml", """
        version: 1
        products:
          - key: blender
            url: https://www.amazon.com/dp/B000000001
            render:
              lang: klingon
        """)
    result = run("validate", path, env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 3
    assert result.stdout.splitlines() == [
        f"::error file={path},line=6,col=13,title=jogg-flow::products[0].render.lang: must be one "
        "of JoggAI's languages%2C in lower case (english%2C spanish%2C ...)".replace("%2C", ",")]


def test_github_failure_annotation_summary_and_outputs(apply, write, sandbox, tmp_path):
    sandbox.add_fault(Fault("render_fail", "POST /open/project/render"))
    manifest = write("m.yaml", MANIFEST)
    summary, outputs = tmp_path / "summary.md", tmp_path / "out.txt"
    result = apply(manifest, "--parallelism", "1", env={
        "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)})
    assert result.exit_code == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert annotations == [f"::error file={manifest},line=3,title=jogg-flow::blender: failed: "
                           "Render failed: the avatar could not be composed (sandbox)"]
    text = summary.read_text()
    assert "| `blender` | failed |  |  | Render failed: the avatar could not be composed (sandbox) |" in text
    assert "**1 failed, 1 succeeded**" in text
    assert "| `kettle` | succeeded |  | [video](http://127.0.0.1:" in text
    lines = outputs.read_text().splitlines()
    assert lines[:2] == ["failed=1", "succeeded=1"]
    assert lines[2].startswith("videos-file=")
    assert [v["key"] for v in json.loads(pathlib.Path(lines[2].split("=", 1)[1]).read_text())] == \
        ["blender", "kettle"]
    assert lines[3].startswith("videos<<ghadelimiter_") and lines[-1] == lines[3].split("<<")[1]
    assert [v["key"] for v in json.loads(lines[4])] == ["blender", "kettle"]


def test_download_resumes_a_partial_file_and_skips_finished_ones(apply, write, sandbox, tmp_path):
    manifest = write("m.yaml", MANIFEST)
    out = tmp_path / "videos"
    assert apply(manifest, "--select", "kettle").exit_code == 0
    out.mkdir()
    full = media.mp4()
    (out / "kettle.mp4.part").write_bytes(full[:50])
    result = apply(manifest, "--select", "kettle", "--download", str(out), "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert (out / "kettle.mp4").read_bytes() == full
    assert not (out / "kettle.mp4.part").exists()
    assert (out / "kettle.cover.png").read_bytes() == media.png()
    statuses = {e["file"].rsplit("/", 1)[-1]: e["status"] for e in map(json.loads, result.stdout.splitlines())
                if e["event"] == "download"}
    assert statuses == {"kettle.mp4": "resumed", "kettle.cover.png": "downloaded"}
    assert sandbox.stats()["range_requests"] == 1

    served = sandbox.stats()["files_served"]
    again = apply(manifest, "--select", "kettle", "--download", str(out), "--output", "json")
    assert again.exit_code == 0
    assert sandbox.stats()["files_served"] == served  # nothing fetched twice


def test_live_view_on_a_terminal_and_no_color(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    events: list[Event] = [
        {"event": "plan", "key": "a", "action": "create"},
        {"event": "step", "key": "a", "step": "create"},
        {"event": "poll", "key": "a", "remote_status": "processing", "progress": 40},
        {"event": "video", "key": "a", "status": "succeeded", "video_url": "https://v/a.mp4"}]
    colored, plain = Tty(), Tty()
    for stream, environ in ((colored, {}), (plain, {"NO_COLOR": "1"})):
        reporter = Reporter("text", stream, environ=environ, clock=map(float, itertools.count()).__next__)
        for e in events:
            reporter(e)
        reporter.close()
    assert "\033[32msucceeded" in colored.getvalue()
    assert "rendering 40%" in colored.getvalue()  # the live block showed progress
    assert "\033[32m" not in plain.getvalue() and "succeeded   a  https://v/a.mp4" in plain.getvalue()


def test_plain_lines_carry_timestamps_when_not_a_terminal():
    stream = io.StringIO()
    Reporter("text", stream, environ={})({"event": "video", "key": "a", "status": "failed", "message": "x"})
    assert __import__("re").match(r"^\d\d:\d\d:\d\d failed      a  x$", stream.getvalue())


def test_init_writes_a_manifest_that_validates(run, tmp_path):
    path = str(tmp_path / "jf.yaml")
    assert run("init", path).exit_code == 0
    assert run("validate", path).exit_code == 0
    again = run("init", path)
    assert again.exit_code == 3 and "--force" in again.stderr


def test_state_list_show_rm(apply, write, run, tmp_path, sandbox):
    manifest = write("m.yaml", MANIFEST)
    apply(manifest)
    state = ("--state", str(tmp_path / "state.json"))
    listed = run("state", "list", manifest, *state).output.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["blender", "succeeded"], ["kettle", "succeeded"]]
    shown = json.loads(run("state", "show", manifest, "kettle", *state).output)
    assert shown["status"] == "succeeded"
    assert run("state", "rm", manifest, "kettle", *state).exit_code == 0
    plan = run("plan", manifest, *state, "--api-base", sandbox.url, "--output", "json")
    assert {i["key"]: i["action"] for i in json.loads(plan.stdout)["items"]} == {
        "blender": "up-to-date", "kettle": "create"}
    assert run("state", "rm", manifest, "nope", *state).exit_code == 3


def test_the_reporter_never_raises_into_the_threads_that_emit():
    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    stop = threading.Event()
    reporter = Reporter("text", Closed(), verbose=1, stop=stop)
    reporter({"event": "step", "key": "a", "step": "create"})
    assert reporter.lost and stop.is_set()
    reporter({"event": "video", "key": "a", "status": "succeeded"})  # silent from now on
    healthy = Reporter("text", io.StringIO())
    healthy(cast(Event, {"event": "video", "key": "a"}))  # malformed: no status
    assert healthy.failure and "video" in healthy.failure


def test_the_step_summary_keeps_each_row_in_its_cells():
    text = summary_markdown("m", [
        {"key": "a", "status": "succeeded", "video_url": "https://x.example/a.mp4"},
        {"key": "b", "status": "succeeded", "video_url": "https://x.example/b.mp4\n| injected | row |"},
        {"key": "c", "status": "succeeded", "video_url": ["https://x.example/c.mp4"]},
        {"key": "d", "status": "succeeded", "video_url": "javascript:alert(1)"}])
    rows = text.strip().splitlines()[6:]
    assert rows[0] == "| `a` | succeeded |  | [video](https://x.example/a.mp4) |  |"
    assert rows[1:] == ["| `b` | succeeded |  |  |  |", "| `c` | succeeded |  |  |  |", "| `d` | succeeded |  |  |  |"]


def test_download_never_follows_a_link_planted_in_the_directory(apply, write, tmp_path):
    manifest = write("m.yaml", """
        version: 1
        products:
          - key: lamp
            url: https://shop.example/lamp
            variants: [{name: tiktok}]
          - key: kettle
            url: https://shop.example/kettle
        """)
    out, elsewhere = tmp_path / "videos", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "lamp").symlink_to(elsewhere)  # lamp/tiktok.mp4 would land in `elsewhere`
    (out / "kettle.mp4.part").symlink_to(elsewhere / "kettle.mp4")
    result = apply(manifest, "--download", str(out))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "leads outside" in result.output and "kettle" in result.output
    assert list(elsewhere.iterdir()) == []
    assert (out / "kettle.cover.png").exists()  # the rest of the downloads went on


def test_junit_has_a_case_per_video_failures_with_their_reason(apply, run, write, sandbox, tmp_path):
    """GitLab, Jenkins and Azure read JUnit XML: one test case per video, the failed one a
    failure with JoggAI's reason, from `apply --junit` and from `outputs --output junit`."""
    import xml.etree.ElementTree as ElementTree

    sandbox.add_fault(Fault("render_fail", "POST /open/project/render"))
    manifest, report = write("m.yaml", MANIFEST), tmp_path / "junit.xml"
    assert apply(manifest, "--parallelism", "1", "--junit", str(report)).exit_code == 1
    listed = run("outputs", manifest, "--state", str(tmp_path / "state.json"), "--output", "junit",
                 env={"JOGG_API_BASE": sandbox.url})
    assert listed.exit_code == 0, listed.stderr
    for text in (report.read_text(), listed.stdout):
        suite = ElementTree.fromstring(text).find("testsuite")
        assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "1")
        cases = {c.get("name"): c for c in suite.iter("testcase")}
        assert set(cases) == {"blender", "kettle"}
        failure = cases["blender"].find("failure")
        assert failure is not None and "the avatar could not be composed" in (failure.text or "")
        assert cases["kettle"].find("failure") is None and cases["kettle"].find("skipped") is None
def test_init_keeps_the_state_folder_out_of_git(run, tmp_path, monkeypatch):
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("needs git")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("*.log")  # the user's own, without a final newline
    monkeypatch.chdir(tmp_path)
    made = run("init")
    assert made.exit_code == 0, made.stderr
    assert "wrote jogg-flow.yaml and .gitignore (.jogg-flow/" in made.stdout
    assert (tmp_path / ".gitignore").read_text().splitlines()[0] == "*.log"
    applied = run("apply", "jogg-flow.yaml", "--sandbox", "-q", "--poll-interval", "0.05")
    assert applied.exit_code == 0, applied.stderr
    assert (tmp_path / ".jogg-flow").is_dir()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout
    assert sorted(status.splitlines()) == ["?? .gitignore", "?? jogg-flow.yaml"]
    again = run("init", "--force")
    assert again.exit_code == 0 and (tmp_path / ".gitignore").read_text().count(".jogg-flow/") == 1
