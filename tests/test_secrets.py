"""A recognisable fake key must appear in no output, log, state or event of any command."""

from __future__ import annotations

import pathlib

from jogg_flow.sandbox import Config, Fault, Sandbox
from tests.conftest import FAKE_KEY

MANIFEST = """
version: 1
products:
  - key: a
    url: https://shop.example/a
    details: {title: A}
  - key: b
    url: https://shop.example/b
"""


def everything_written(tmp_path: pathlib.Path) -> str:
    return "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())


def test_the_key_never_leaves_the_environment(write, run, tmp_path):
    env = {"JOGG_API_KEY": FAKE_KEY}
    manifest = write("m.yaml", MANIFEST)
    state = str(tmp_path / "state" / "s.json")
    seen = []
    faults = [Fault("http_500", "GET *"), Fault("drop_after_commit", "POST /open/project/render"),
              Fault("rate_429", "POST /open/product")]
    with Sandbox(Config(time_scale=60.0, render_seconds=10.0, faults=faults)) as sb:
        common = ("--api-base", sb.url, "--state", state)
        fast = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2")
        for args in (("validate", manifest), ("plan", manifest, "--state", state),
                     ("apply", manifest, *common, *fast, "-vv"),
                     ("apply", manifest, *common, *fast, "--output", "json"),
                     ("outputs", manifest, "--state", state, "--format", "json"),
                     ("plan", manifest, "--state", state, "--output", "json")):
            result = run(*args, env=env)
            seen.append(result.output + result.stderr)
    with Sandbox(Config(api_keys=frozenset({"other"}))) as wrong:
        result = run("apply", manifest, "--api-base", wrong.url, "--state",
                     str(tmp_path / "w.json"), "-vv", env=env)
        assert result.exit_code == 1
        seen.append(result.output + result.stderr)
    assert "10105" in seen[-1]
    for text in seen + [everything_written(tmp_path)]:
        assert FAKE_KEY not in text
