"""A run with nothing to do says so in one line: `No changes: N videos up to date.`, with
or without `-q`; `-v` lists the videos."""

from __future__ import annotations

import os

import pytest
from click.testing import Result

from tests.conftest import ROOT
from tests.terminal import run_on_pty

TWELVE = "version: 1\nproducts:\n" + "".join(
    f"  - key: p{i:02d}\n    url: https://shop.example/p{i:02d}\n" for i in range(12))
FAST = ("--poll-interval", "0.05", "--poll-max", "0.2")


@pytest.fixture
def applied(write, run):
    manifest = write("m.yaml", TWELVE)
    first = run("apply", manifest, "--sandbox", *FAST)
    assert first.exit_code == 0, first.stderr
    return manifest


def _lines(result: Result) -> list[str]:
    return (result.stdout + result.stderr).splitlines()


@pytest.mark.parametrize("flags", [(), ("-q",)])
def test_a_no_op_apply_prints_one_line(applied, run, flags):
    result = run("apply", applied, "--sandbox", *flags)
    assert result.exit_code == 0, result.stderr
    lines = _lines(result)
    assert len(lines) <= 2 and len(lines) == 1, lines
    assert lines[0].endswith(" No changes: 12 videos up to date.")


def test_a_no_op_apply_lists_the_videos_with_v(applied, run):
    result = run("apply", applied, "--sandbox", "-v")
    assert result.exit_code == 0, result.stderr
    for i in range(12):
        assert any(line.split()[1:3] == ["up-to-date", f"p{i:02d}"] for line in _lines(result))


def test_a_run_that_changes_something_still_lists_its_outcomes(applied, run, write):
    write("m.yaml", TWELVE.replace("shop.example/p03", "shop.example/p03-v2"))
    result = run("apply", applied, "--sandbox", *FAST)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "succeeded   p03" in out and "No changes" not in out
    assert "11 up-to-date, 1 succeeded in" in out
    assert "up-to-date  p00" in out  # as before: a run with changes lists every outcome


def test_a_no_op_apply_on_a_terminal_is_one_line(applied):
    pyte = pytest.importorskip("pyte", reason="needs pyte (pip install -e '.[test]')")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", "NO_COLOR": "1"}
    env.pop("GITHUB_ACTIONS", None)
    env.pop("JOGG_API_KEY", None)
    screen = pyte.Screen(80, 30)
    stream = pyte.ByteStream(screen)
    _, code = run_on_pty(["apply", applied, "--sandbox"], env,
                         lambda proc, master, chunk, seen: stream.feed(chunk), columns=80)
    assert code == 0
    assert [line.rstrip() for line in screen.display if line.strip()] == [
        "No changes: 12 videos up to date."]
