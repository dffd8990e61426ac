"""Generated broken manifests: every one exits 3 with FILE:LINE:COL lines, no traceback,
and leaves an existing state byte for byte as it was."""

from __future__ import annotations

import re
import shutil

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jogg_flow.cli import cli
from tests.conftest import ROOT

VALID = (ROOT / "manifests" / "spring-launch.yaml").read_text()
LINE = re.compile(r"^.+:\d+:\d+: .+$")


def mutate(text: str, at: int, junk: str, how: int) -> str:
    at %= max(1, len(text))
    if how == 0:
        return text[:at] + junk + text[at:]
    if how == 1:
        return text[:at] + text[at + len(junk):]
    return text[:at] + junk + text[at + len(junk):]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at=st.integers(min_value=0), junk=st.lists(st.sampled_from(
    list(":-[]{}&*!|>'\"%@`#,? \n\t") + ["{{", "}}", "{%", "a", "1", "  "]), min_size=1, max_size=4).map("".join),
    how=st.integers(min_value=0, max_value=2))
def test_mutated_manifests_fail_cleanly_or_pass(tmp_path, at, junk, how):
    path = tmp_path / "m.yaml"
    path.write_text(mutate(VALID, at, junk, how))
    state = tmp_path / "state.json"
    shutil.copy(ROOT / "tests" / "fixtures" / "state-v1.json", state)
    before = state.read_bytes()
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", str(path)], env={})
    assert result.exit_code in (0, 3), result.output
    if result.exit_code == 3:
        lines = result.stderr.splitlines()
        assert lines and all(LINE.match(line) and line.startswith(str(path)) for line in lines), lines
    applied = runner.invoke(cli, ["apply", str(path), "--state", str(state)], env={})
    assert applied.exit_code == 3  # invalid manifest, or (when valid) no key: usage
    assert "Traceback" not in applied.output + applied.stderr
    assert state.read_bytes() == before


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_validate(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("b") / "m.yaml"
    path.write_bytes(data)
    result = CliRunner().invoke(cli, ["validate", str(path)], env={})
    assert result.exit_code in (0, 3)
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_huge_file_is_refused_quickly(tmp_path, run):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:
        fh.truncate(65 * 1024 * 1024)
    result = run("validate", str(path))
    assert result.exit_code == 3 and "limited to" in result.stderr
