"""Rows mutated at random (fields blanked, dropped, added, rows duplicated, stray quotes and
bytes): a feed either gives exactly its rows as products or fails with problems placed on
real lines of the feed or the manifest; never anything else."""

from __future__ import annotations

import csv
import io
import json
import pathlib
import tempfile
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jogg_flow.errors import ManifestError
from jogg_flow.manifest import load_manifest

MANIFEST = """\
version: 1
products_from:
  - file: feed.csv
    product:
      key: "{{ row.handle }}"
      url: "{{ row.link }}"
      details: {title: "{{ row.title }}"}
"""
TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12)
MUTATION = st.one_of(
    st.tuples(st.just("blank"), st.integers(0, 30), st.sampled_from([0, 1, 2])),
    st.tuples(st.just("drop"), st.integers(0, 30), st.sampled_from([0, 1, 2])),
    st.tuples(st.just("add"), st.integers(0, 30), TEXT),
    st.tuples(st.just("title"), st.integers(0, 30), TEXT),
    st.tuples(st.just("duplicate"), st.integers(0, 30), st.just(0)),
    st.tuples(st.just("raw"), st.integers(0, 30), st.sampled_from([b'"', b"\xff", b"\r", b","])),
)


def rows(n: int) -> list[list[str]]:
    return [[f"p-{i}", f"https://shop.example.com/p/{i}", f"Product {i}"] for i in range(n)]


def mutate(table: list[list[str]], mutations: list[tuple[str, int, Any]]) -> tuple[bytes, bool]:
    """The feed's bytes, and whether it is still a valid feed by construction."""
    raw: list[tuple[int, bytes]] = []
    for kind, at, arg in mutations:
        i = at % len(table)
        if kind == "blank":
            table[i][arg:arg + 1] = [""] if arg < len(table[i]) else []
        elif kind == "drop":
            del table[i][arg:arg + 1]
        elif kind == "add":
            table[i].append(arg)
        elif kind == "title":
            table[i][2:3] = [arg]
        elif kind == "duplicate":
            table.append(list(table[i]))
        else:
            raw.append((i, arg))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["handle", "link", "title"])
    writer.writerows(table)
    data = out.getvalue().encode()
    for i, byte in raw:  # a stray byte at the end of a line
        lines = data.split(b"\n")
        lines[1 + i % (len(lines) - 2)] += byte
        data = b"\n".join(lines)
    whole = all(len(r) == 3 and r[0].startswith("p-") and r[1].startswith("https://shop.example.com/p/")
                and r[2].strip() == r[2] and r[2]
                and not set(r[2]) & set("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029") for r in table)
    keys = [r[0] for r in table] if whole else []
    valid = not raw and whole and len(set(keys)) == len(keys)
    return data, valid


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 8), st.lists(MUTATION, max_size=4))
def test_mutated_rows_give_their_products_or_problems_on_real_lines(n, mutations):
    table = rows(n)
    data, valid = mutate(table, mutations)
    with tempfile.TemporaryDirectory() as tmp:
        feed = pathlib.Path(tmp) / "feed.csv"
        feed.write_bytes(data)
        manifest = pathlib.Path(tmp) / "shop.yaml"
        manifest.write_text(MANIFEST)
        try:
            loaded = load_manifest(str(manifest))
        except ManifestError as err:
            assert not valid, err
            lines = {str(feed): data.count(b"\n") + 1, str(manifest): MANIFEST.count("\n")}
            for problem in err.problems:
                assert problem.file in lines and 1 <= problem.line <= lines[problem.file], problem
            return
    if valid:
        assert [v.key for v in loaded.videos] == [r[0] for r in table]
        assert [v.details["title"] for v in loaded.videos] == [r[2] for r in table]


VALUE = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
                min_size=1, max_size=20).filter(lambda t: t.strip() == t)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(VALUE, min_size=1, max_size=6), st.sampled_from(["jsonl", "xml"]))
def test_any_text_survives_json_lines_and_merchant_xml_unchanged(titles, fmt):
    from xml.sax.saxutils import escape

    items = [(f"p-{i}", f"https://shop.example.com/p/{i}", t) for i, t in enumerate(titles)]
    if fmt == "jsonl":
        data = "".join(json.dumps({"handle": h, "link": u, "title": t}) + "\n" for h, u, t in items)
    else:
        data = ('<rss xmlns:g="http://base.google.com/ns/1.0"><channel>\n' + "".join(
            f"<item><g:handle>{h}</g:handle><link>{u}</link><g:title>{escape(t)}</g:title></item>\n"
            for h, u, t in items) + "</channel></rss>\n")
    with tempfile.TemporaryDirectory() as tmp:
        (pathlib.Path(tmp) / f"feed.{fmt}").write_text(data, encoding="utf-8")
        manifest = pathlib.Path(tmp) / "shop.yaml"
        manifest.write_text(MANIFEST.replace("feed.csv", f"feed.{fmt}"))
        videos = load_manifest(str(manifest)).videos
    assert [(v.key, v.url, v.details["title"]) for v in videos] == items


# Issue 22: rows of any text, any depth and any number, through validate under GitHub Actions:
# exit 0 or 3, never a traceback, and nothing printed that a terminal or the runner obeys.
JSON_VALUE = st.recursive(
    st.one_of(st.text(st.characters(), max_size=12), st.integers(-10**30, 10**30), st.booleans(),
              st.none(), st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12)
ROW = st.fixed_dictionaries({"handle": st.one_of(st.just("p-1"), st.text(st.characters(), max_size=8)),
                             "link": st.one_of(st.just("https://shop.example.com/p"), st.text(max_size=12)),
                             "title": JSON_VALUE})
OBEYED = ("\x1b", "\x07", "\r", "\x85", "\u2028", "\u202e")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROW, min_size=1, max_size=4), st.integers(0, 60))
def test_any_json_lines_row_is_refused_or_taken_without_a_traceback_or_an_escape(rows_, deep):
    from click.testing import CliRunner

    from jogg_flow.cli import cli

    lines = [json.dumps(r) for r in rows_]
    lines.append('{"handle": "p-9", "link": "https://shop.example.com/9", "title": ' + "[" * deep + "]" * deep + "}")
    lines.append('{"handle": "p-8", "link": "https://shop.example.com/8", "gtin": ' + "7" * (deep * 100) + "}")
    with tempfile.TemporaryDirectory() as tmp:
        (pathlib.Path(tmp) / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        manifest = pathlib.Path(tmp) / "shop.yaml"
        manifest.write_text(MANIFEST.replace("feed.csv", "feed.jsonl"))
        for output in ("text", "json"):
            result = CliRunner().invoke(cli, ["validate", str(manifest), "--output", output],
                                        env={"GITHUB_ACTIONS": "true"}, catch_exceptions=False)
            printed = result.stdout + result.stderr
            assert result.exit_code in (0, 3) and "Traceback" not in printed
            assert not any(c in printed for c in OBEYED)
            assert all(not line.startswith("::") or line.startswith("::error file=") for line in printed.splitlines())
