"""Deep or odd input never ends in a traceback (issue 22, item 5): feeds, saved plans, state
files and API answers nested thousands deep, and numbers of thousands of digits, are refused at
their line with the documented exit code, in text and in `--output json`."""

from __future__ import annotations

import json
import shutil

import pytest

from jogg_flow.state import State
from tests.conftest import FAKE_KEY
from tests.scripted import Reply, Scripted, envelope
from tests.test_feeds import FIX

DEEP = "[" * 50000 + "]" * 50000
MANIFEST = "version: 1\nproducts: [{key: a, url: 'https://shop.example/a'}]\n"


def no_traceback(result):
    assert "Traceback" not in result.output + result.stderr
    return result


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
def test_a_json_lines_feed_nested_50000_deep_is_exit_3_in_json_too(command, tmp_path, run):
    shutil.copy(FIX / "jsonl-nested-50000-deep.jsonl", tmp_path / "feed.jsonl")
    (tmp_path / "m.yaml").write_text("version: 1\nproducts_from:\n  - file: feed.jsonl\n    product:\n"
                                     "      key: '{{ row.handle }}'\n      url: '{{ row.link }}'\n")
    extra = ("--sandbox", "--yes") if command == "apply" else ()
    result = no_traceback(run(command, str(tmp_path / "m.yaml"), "--output", "json", *extra))
    assert result.exit_code == 3
    if command == "validate":
        problems = json.loads(result.stdout)[0]["problems"]
    else:
        problems = json.loads(result.stdout.splitlines()[-1])["problems"]
    assert problems == [{"file": str(tmp_path / "feed.jsonl"), "line": 2, "col": 1,
                         "message": "is nested too deeply (a product's item is at most 32 levels deep)"}]


def test_a_saved_plan_nested_50000_deep_is_exit_3(tmp_path, run):
    path = tmp_path / "plan.json"
    path.write_text('{"jogg_flow_plan": ' + DEEP + "}\n")
    result = no_traceback(run("apply", str(path)))
    assert result.exit_code == 3
    assert result.stderr.strip() == f"error: {path}:1:1: is nested too deeply to be a saved plan"


def test_a_saved_plan_with_a_5000_digit_number_is_exit_3(tmp_path, run):
    path = tmp_path / "plan.json"
    path.write_text('{"jogg_flow_plan": ' + "9" * 5000 + "}\n")
    result = no_traceback(run("apply", str(path)))
    assert result.exit_code == 3
    assert result.stderr.strip() == f"{path}:1:20: a number of 5,000 characters is too long to be a value"


@pytest.mark.parametrize("where", ["journal", "snapshot"])
def test_a_state_file_nested_50000_deep_is_exit_4(where, write, tmp_path, run):
    manifest, state = write("m.yaml", MANIFEST), tmp_path / "s.json"
    State.load(str(state)).put("a", {"status": "succeeded", "outputs": {}})
    if where == "journal":
        journal = state.with_name("s.json.journal")
        journal.write_text(journal.read_text().replace('"outputs":{}', '"outputs":' + DEEP))
    else:
        state.write_text(state.read_text().replace('"videos": {}', '"videos": {"b": ' + DEEP + "}"))
    for args in (("plan", manifest), ("state", "list", manifest), ("outputs", manifest, "--output", "json")):
        result = no_traceback(run(*args, "--state", str(state)))
        assert result.exit_code == 4, (args, result.output)
        assert "nested too deeply" in result.stderr


def test_an_api_answer_nested_50000_deep_is_not_a_traceback(write, tmp_path, run):
    def api(r):
        if r.path == "/open/avatar":
            return envelope({"avatars": [{"id": 37}]})
        return Reply(200, ('{"code": 0, "data": ' + DEEP + "}").encode(), {"Content-Type": "application/json"})

    with Scripted(api) as server:
        result = no_traceback(run("apply", write("m.yaml", MANIFEST), "--api-base", server.url, "--state",
                                  str(tmp_path / "s.json"), "--post-rate", "20/1s",
                                  env={"JOGG_API_KEY": FAKE_KEY}))
    assert result.exit_code == 1
    assert "internal error" not in result.output + result.stderr


def test_plan_shows_a_lone_surrogate_from_the_state_instead_of_crashing(write, tmp_path, run):
    # Before: UnicodeEncodeError out of `plan` (the diff printed the state's old title raw).
    manifest, state = write("m.yaml", MANIFEST.replace("}]", ", details: {title: T}}]")), tmp_path / "s.json"
    applied = run("apply", manifest, "--sandbox", "--yes", "-q", "--state", str(state), "--poll-interval", "0.05")
    assert applied.exit_code == 0, applied.stderr
    journal = state.with_name("s.json.journal")
    journal.write_text(journal.read_text().replace('"title":"T"', '"title":"T\\ud800\\u001b[2J"'))
    result = no_traceback(run("plan", manifest, "--sandbox", "--state", str(state)))
    assert result.exit_code == 0
    assert 'details.title: "T\\ud800\\u001b[2J" → "T"' in result.stdout
