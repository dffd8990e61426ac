"""In --output json, every error that ends a command is one JSON object
on stdout (apply: an `error` event), besides the one-line human error on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import jsonschema
import pytest

from jogg_flow.sandbox import Config, Fault, Sandbox
from tests.conftest import FAKE_KEY, ROOT

EVENTS = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "events.schema.json").read_text()))
MANIFEST = """version: 1
products:
  - key: kettle
    url: https://shop.example/kettle
"""
BAD = """version: 1
products:
  - key: kettle
    url: not a url
"""


def jf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a process of its own."""
    return subprocess.run([sys.executable, "-m", "jogg_flow", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "JOGG_API_KEY": FAKE_KEY, **(env or {})})


def one_error(result: subprocess.CompletedProcess[str], code: int, says: str) -> dict[str, Any]:
    """The single JSON error line on stdout, checked against the exit code and stderr."""
    assert result.returncode == code, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    body: dict[str, Any] = json.loads(lines[0])
    assert body["ok"] is False and body["exit_code"] == code and says in body["error"], body
    assert says in result.stderr and "Traceback" not in result.stderr
    return body


@pytest.fixture
def files(tmp_path):
    manifest, bad, broken = tmp_path / "m.yaml", tmp_path / "bad.yaml", tmp_path / "broken.json"
    manifest.write_text(MANIFEST)
    bad.write_text(BAD)
    broken.write_text("not json{")  # a state file nobody can read: exit 4
    return str(manifest), str(bad), str(broken)


@pytest.mark.parametrize("command", [("plan",), ("outputs",), ("state", "list")])
def test_a_state_error_is_one_json_object(files, command):
    manifest, _, broken = files
    one_error(jf(*command, manifest, "--state", broken, "--output", "json"), 4, "state file is unreadable")


def test_state_show_errors_are_json_objects(files):
    manifest, _, broken = files
    one_error(jf("state", "show", manifest, "kettle", "--state", broken, "--output", "json"), 4,
              "state file is unreadable")
    result = jf("state", "show", manifest, "nope", "--output", "json")
    one_error(result, 3, "no video 'nope' in the state")
    assert result.stderr == "error: no video 'nope' in the state\n"  # one line


@pytest.mark.parametrize("command", ["plan", "outputs"])
def test_a_usage_error_after_parsing_is_a_json_object(files, command):
    manifest, _, _ = files
    one_error(jf(command, manifest, "--sandbox", "--api-base", "http://127.0.0.1:9", "--output", "json"),
              3, "cannot be used together")
    one_error(jf(command, manifest, "--select", "nothing*", "--output", "json"), 3, "matches no video")


def test_catalog_api_error_is_a_json_object():
    with Sandbox(Config(faults=[Fault("code_10105", "*", times=99)])) as sb:
        body = one_error(jf("catalog", "avatars", "--api-base", sb.url, "--output", "json"), 1,
                         "JoggAI error 10105")
    assert FAKE_KEY not in json.dumps(body)


def test_text_mode_keeps_stdout_clean(files):
    manifest, _, broken = files
    result = jf("plan", manifest, "--state", broken)
    assert result.returncode == 4 and result.stdout == ""


def test_apply_ends_its_stream_with_an_error_event(files, tmp_path):
    manifest, bad, broken = files
    state = str(tmp_path / "state.json")
    with Sandbox(Config(time_scale=60.0, faults=[Fault("code_10105", "POST *", times=99)])) as sb:
        stopped = jf("apply", manifest, "--api-base", sb.url, "--state", state, "--post-rate", "20/1s",
                     "--output", "json")
        locked = jf("apply", manifest, "--api-base", sb.url, "--state", broken, "--output", "json")
    assert stopped.returncode == 1
    events = [json.loads(line) for line in stopped.stdout.splitlines()]
    for event in events:
        EVENTS.validate(event)
    assert [e["event"] for e in events[-2:]] == ["summary", "error"]
    assert events[-1]["exit_code"] == 1 and events[-1]["error"].startswith("stopped: JoggAI error 10105")
    assert f"error: {events[-1]['error']}" in stopped.stderr
    error = one_error(locked, 4, "state file is unreadable")
    EVENTS.validate(error)
    invalid = jf("apply", bad, "--output", "json")
    body = one_error(invalid, 3, "must be an absolute http(s) URL")  # stderr: the problem at its line
    EVENTS.validate(body)
    assert body["error"] == f"invalid manifest: {bad}:4:10: products[0].url: must be an absolute http(s) URL"
    assert body["problems"][0]["line"] == 4


def test_validate_and_the_error_object_give_problems_the_same_shape(files):
    _, bad, _ = files
    listed = json.loads(jf("validate", bad, "--output", "json").stdout)
    error = json.loads(jf("plan", bad, "--output", "json").stdout)
    assert [set(item) for item in listed] == [{"file", "ok", "videos", "feeds", "problems"}]
    assert listed[0]["problems"] == error["problems"]
    assert set(error["problems"][0]) == {"file", "line", "col", "message"}


@pytest.mark.parametrize("base", ["https://[api.example", "https://api.example:99999", "ftp://api.example"])
def test_an_api_base_urllib_cannot_read_is_a_usage_error(base, write, run):
    manifest = write("m.yaml", "version: 1\nproducts: [{key: a, url: 'https://shop.example/a'}]\n")
    result = run("apply", manifest, "--api-base", base, "--yes", env={"JOGG_API_KEY": "k" * 20})
    assert result.exit_code == 3 and "Traceback" not in result.output + result.stderr
    assert "is not an http(s) URL" in result.stderr
