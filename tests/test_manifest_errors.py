"""Each fixture in fixtures/invalid breaks one rule and states where the error must point."""

from __future__ import annotations

import pathlib
import re

import pytest

from jogg_flow.errors import ManifestError
from jogg_flow.manifest import load_manifest

INVALID = sorted((pathlib.Path(__file__).parent / "fixtures" / "invalid").glob("*.yaml"))


def expectation(path: pathlib.Path) -> tuple[str, str]:
    first = path.read_text().splitlines()[0] if path.stat().st_size else ""
    match = re.match(r"# expect: (\d+:\d+): (.*)", first)
    assert match, f"{path.name} lacks an '# expect: LINE:COL: message' first line"
    return match.group(1), match.group(2)


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_fixture_reports_line_and_column(path, run):
    where, message = expectation(path)
    result = run("validate", str(path))
    assert result.exit_code == 3
    assert f"{path}:{where}: {message}" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_all_problems_of_a_file_are_reported_at_once(write):
    path = write("three.yaml", """
        version: 1
        products:
          - key: a
            url: https://x.example/a
            render: {lang: klingon}
          - key: b
            urll: https://x.example/b
            details:
              title: "{{ nope }}"
        """)
    with pytest.raises(ManifestError) as err:
        load_manifest(path, environ={})
    lines = [(p.line, p.col) for p in err.value.problems]
    assert lines == [(5, 20), (6, 5), (7, 5), (9, 14)]  # lang, missing url, unknown key, template


def test_error_in_shared_defaults_is_reported_once_not_per_product(write):
    products = "".join(f"  - key: p{i}\n    url: https://x.example/{i}\n" for i in range(50))
    path = write("d.yaml", "version: 1\ndefaults:\n  render:\n    lang: \"{{ product.nope }}\"\n"
                 f"products:\n{products}")
    with pytest.raises(ManifestError) as err:
        load_manifest(path, environ={})
    assert [(p.line, p.col) for p in err.value.problems] == [(4, 11)]


def test_not_utf8_reports_the_byte_position(tmp_path, run):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\nproducts:\n  - key: caf\xe9\n")
    result = run("validate", str(path))
    assert result.exit_code == 3
    assert f"{path}:3:13: not UTF-8 (byte 0xe9)" in result.stderr


def test_a_directory_is_not_a_manifest(tmp_path, run):
    result = run("validate", str(tmp_path))
    assert result.exit_code == 3
    assert f"{tmp_path}:1:1: is a directory" in result.stderr


def test_missing_file(tmp_path, run):
    result = run("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 3
    assert "cannot read: No such file or directory" in result.stderr


def test_literal_api_key_value_is_refused_without_echoing_it(write):
    key = "jf-live-0123456789abcdef"
    path = write("k.yaml", f"""
        version: 1
        products:
          - key: a
            url: https://x.example/a?k={key}
        """)
    with pytest.raises(ManifestError) as err:
        load_manifest(path, environ={"JOGG_API_KEY": key})
    assert "set JOGG_API_KEY in the environment" in str(err.value)
    assert key not in str(err.value)


def test_the_key_cannot_arrive_through_another_env_variable(write):
    key = "jf-live-0123456789abcdef"
    path = write("k.yaml", """
        version: 1
        env: [COPY]
        products:
          - key: a
            url: https://x.example/a
            details: {title: "{{ env.COPY }}"}
        """)
    with pytest.raises(ManifestError) as err:
        load_manifest(path, environ={"JOGG_API_KEY": key, "COPY": key})
    assert "set JOGG_API_KEY in the environment" in str(err.value) and key not in str(err.value)


def test_validate_json_output_lists_problems(run):
    path = INVALID[0]
    result = run("validate", "--output", "json", str(path))
    assert result.exit_code == 3
    assert '"ok": false' in result.output
