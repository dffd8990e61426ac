"""Formatting that other programs parse: workflow commands, tables, CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

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
    failure = github.append(str(tmp_path / "no" / "such" / "dir"), "x")
    assert failure is not None and failure.startswith("cannot write")


def _catalogue(n: int, failed_every: int = 3) -> list[dict[str, Any]]:
    """n videos as an apply reports them: every `failed_every`-th one failed with a reason."""
    rows: list[dict[str, Any]] = []
    for i in range(n):
        if i % failed_every == 0:
            rows.append({"key": f"product-{i:05d}/tiktok-vertical", "status": "failed", "project_id": None,
                         "video_url": None, "message": "Failed to extract product information " * 3})
        else:
            rows.append({"key": f"product-{i:05d}/tiktok-vertical", "status": "succeeded",
                         "project_id": f"prj-{i:08d}",
                         "video_url": f"https://res.jogg.ai/videos/2026/12/{i:08d}/final-render-1080p.mp4"})
    return rows


def test_the_step_summary_of_8000_videos_stays_under_githubs_limit_with_the_failures_first():
    rows = _catalogue(8000)
    text = github.summary_markdown("shop", rows)
    assert len(text.encode("utf-8")) <= 1024 * 1024
    assert "**2667 failed, 5333 succeeded**" in text
    table = [line for line in text.splitlines() if line.startswith("| `")]
    assert 3000 < len(table) < 8000
    assert all("| failed |" in line for line in table[:2667])  # every failure, with its reason
    assert "Failed to extract product information" in table[0]
    more = 8000 - len(table)
    assert f"… and {more} more videos: see the gallery" in text
    small = github.summary_markdown("shop", rows[:30])
    assert "more videos" not in small and len([x for x in small.splitlines() if x.startswith("| `")]) == 30


def test_step_outputs_of_8000_videos_stay_under_a_megabyte_in_utf16_and_point_at_the_full_list(tmp_path):
    rows = _catalogue(8000)
    path = github.write_videos_file(rows, "shop", {"RUNNER_TEMP": str(tmp_path)}, "unused")
    assert path == str(tmp_path / "jogg-flow-shop-videos.json")
    text = github.output_lines(rows, path)
    assert len(text.encode("utf-16-le")) // 2 <= 1_000_000
    assert "videos<<" not in text  # the inline list would not fit: left out, the file has it all
    assert f"videos-file={path}" in text.splitlines()
    assert len(json.loads((tmp_path / "jogg-flow-shop-videos.json").read_text())) == 8000
    few = github.output_lines(rows[:10], path)
    assert "videos<<ghadelimiter_" in few


def test_annotations_stop_at_ten_of_a_kind_errors_first():
    items: list[tuple[str, str, str | None, int | None]] = [
        ("warning", f"w{i}: rendering", "m.yaml", i) for i in range(15)]
    items += [("error", f"e{i}: failed: boom", "m.yaml", i) for i in range(3013)]
    lines = github.limited_annotations(items)
    errors = [x for x in lines if x.startswith("::error")]
    warnings = [x for x in lines if x.startswith("::warning")]
    assert len(errors) == len(warnings) == 10
    assert lines.index(errors[-1]) < lines.index(warnings[0])
    assert errors[-1].endswith("… and 3004 more videos failed or need a check: see the step summary")
    assert warnings[-1].endswith("… and 6 more videos were left unfinished: see the step summary")
    assert len(github.limited_annotations(items[:10])) == 10  # exactly ten: no overflow line
