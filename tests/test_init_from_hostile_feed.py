"""`init --from FEED` writes what it means and nothing a feed smuggles in (issue 22, item 2): column
names that are not plain are left out, every value is a quoted scalar, comments hold no line
break, and the written manifest is read back before it is put in place."""

from __future__ import annotations

import csv
import io
import json
import pathlib
import tempfile
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jogg_flow.manifest import load_manifest

EVIL = "https://collector.attacker.example"
ROW = ["a-1", "https://shop.example.com/a-1", "Lamp"]


def feed_with_header(folder: pathlib.Path, header: list[str], name: str = "feed.csv") -> pathlib.Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerow(ROW + [""] * (len(header) - len(ROW)))
    path = folder / name
    path.write_text(out.getvalue())
    return path


def written(run, folder: pathlib.Path, feed: pathlib.Path) -> dict[str, Any]:
    target = folder / "new.yaml"
    result = run("init", str(target), "--from", str(feed))
    assert result.exit_code == 0, result.output + result.stderr
    text = target.read_text()
    assert EVIL not in text
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def test_a_header_smuggling_api_settings_writes_none(tmp_path, run):
    header = ["handle", "link", f"title\napi:\n  base_url: {EVIL}\n  version: v2\nx: \""]
    data = written(run, tmp_path, feed_with_header(tmp_path, header))
    assert sorted(data) == ["api", "defaults", "products_from", "vars", "version"]
    assert data["api"] == {"version": "v1"}  # as `init` writes it: no base_url from the feed
    loaded = load_manifest(str(tmp_path / "new.yaml"))
    assert loaded.base_url is None and loaded.api_version == "v1"
    assert [v.key for v in loaded.videos] == ["a-1"]


def test_a_header_smuggling_a_product_or_a_second_feed_adds_none(tmp_path, run):
    header = ["handle", "link", "title", "note\nproducts:\n  - key: extra\n    url: https://x.example/",
              "other\n  - file: feed.csv\n    product: {key: b, url: 'https://x.example/'}"]
    text_before = (tmp_path / "new.yaml")
    data = written(run, tmp_path, feed_with_header(tmp_path, header))
    assert "products" not in data and len(data["products_from"]) == 1
    assert "2 columns left out" in text_before.read_text()
    assert [v.key for v in load_manifest(str(text_before)).videos] == ["a-1"]


def test_a_column_name_that_would_be_a_template_or_break_quoting_is_left_out(tmp_path, run):
    item = {"id": "a-1", "link": "https://shop.example.com/a-1",
            "title\"}}{{ env.JOGG_API_KEY }}": "x", "it's # here": "y", "Body (HTML)": "<b>z</b>"}
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps(item) + "\n")
    data = written(run, tmp_path, feed)
    text = (tmp_path / "new.yaml").read_text()
    assert "JOGG_API_KEY" not in text and "it's" not in text
    assert "# other columns: Body (HTML)" in text
    assert data["products_from"][0]["product"]["key"] == "{{ row.id | lower }}"


def test_a_feed_whose_file_name_breaks_a_line_stays_in_its_quotes_and_comment(tmp_path, run):
    feed = feed_with_header(tmp_path, ["handle", "link", "title"], name="f\napi: {version: v2}\n.csv")
    target = tmp_path / "new.yaml"
    assert run("init", str(target), "--from", str(feed)).exit_code == 0
    data = yaml.safe_load(target.read_text())
    assert data["api"] == {"version": "v1"} and data["products_from"][0]["file"] == feed.name
    assert [v.key for v in load_manifest(str(target)).videos] == ["a-1"]


# Any header at all: the manifest written has the four top-level settings and one feed, or
# none is written; never a traceback, never a setting of the feed's.
NAME = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1,
               max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(NAME, min_size=1, max_size=4, unique_by=lambda n: n.strip()))
def test_any_header_writes_only_the_starter_or_nothing(run, names):
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        header = ["handle", "link", "title"] + [n for n in names if n.strip() and
                                                n.strip() not in ("handle", "link", "title")]
        feed = feed_with_header(folder, header)
        target = folder / "new.yaml"
        result = run("init", str(target), "--from", str(feed))
        assert "Traceback" not in result.output + result.stderr
        if result.exit_code != 0:
            assert result.exit_code == 3 and not target.exists()
            return
        data = yaml.safe_load(target.read_text())
        assert sorted(data) == ["api", "defaults", "products_from", "vars", "version"]
        assert data["api"] == {"version": "v1"}
        assert sorted(data["vars"]) == ["brand"] and len(data["products_from"]) == 1
        assert sorted(data["products_from"][0]) == ["file", "product"]
