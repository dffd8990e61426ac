"""Formatting that other programs parse: workflow commands, tables, CSV."""

from __future__ import annotations

import csv
import io

from jogg_flow.errors import Problem
from jogg_flow.ui import github, report


def test_annotation_escapes_data_and_properties():
    line = github.annotation("error", "50% done\nnext: a, b", "dir,x/m:1.yaml", 3, 4, "jogg-flow")
    assert line == "::error file=dir%2Cx/m%3A1.yaml,line=3,col=4,title=jogg-flow::50%25 done%0Anext: a, b"
    assert github.annotation("warning", "plain") == "::warning::plain"


def test_problem_annotations_and_activation():
    (line,) = github.problem_annotations([Problem("m.yaml", 2, 5, "bad")])
    assert line == "::error file=m.yaml,line=2,col=5,title=jogg-flow::bad"
    assert github.active({"GITHUB_ACTIONS": "true"}) and not github.active({"CI": "true"})


def test_outputs_use_a_delimiter_the_json_cannot_contain():
    rows = [{"key": "a", "status": "succeeded", "video_url": "u"}, {"key": "b", "status": "failed"}]
    text = github.output_lines(rows)
    lines = text.splitlines()
    assert lines[:2] == ["failed=1", "succeeded=1"]
    delimiter = lines[2].split("<<", 1)[1]
    assert lines[-1] == delimiter and delimiter not in lines[3]


def test_github_append_is_a_no_op_without_a_path(tmp_path):
    github.append(None, "x")
    target = tmp_path / "f"
    github.append(str(target), "a")
    github.append(str(target), "b")
    assert target.read_text() == "ab"


def test_csv_quotes_awkward_values():
    rows = [{"key": "a,b", "project_id": None, "status": "succeeded", "video_url": 'say "hi"',
             "cover_url": None, "duration": 30.0}]
    parsed = list(csv.DictReader(io.StringIO(report.format_rows(rows, "csv"))))
    assert parsed == [{"key": "a,b", "project_id": "", "status": "succeeded", "video_url": 'say "hi"',
                       "cover_url": "", "duration": "30.0", "credits": ""}]


def test_table_aligns_columns():
    text = report.table(["key", "n"], [["long-key", 1], ["k", None]])
    assert text.splitlines() == ["KEY       N", "long-key  1", "k"]


def test_an_unwritable_summary_file_is_reported_not_raised(tmp_path):
    assert github.append(str(tmp_path / "no" / "such" / "dir"), "x").startswith("cannot write")
