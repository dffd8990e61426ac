"""One mistake, one message (issue 23, item 5): a mistake repeated on every row of a feed is
said once, rows are named in numeric order, template errors speak the manifest's words, and a
file with several mistakes reports each of them."""

from __future__ import annotations

import json


def _jsonl(tmp_path, rows):
    (tmp_path / "feed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


FEED_MANIFEST = """
    version: 1
    vars:
      brand: Acme
    products_from:
      - file: feed.jsonl
        product:
          key: "{{ row.handle }}"
          url: "{{ row.lnk }}"
          details:
            title: "{{ vars.brnad }} {{ row.title }}"
          render:
            lang: "{{ row.language }}"
"""


def test_a_json_lines_mistake_on_every_row_is_one_line(tmp_path, write, run):
    _jsonl(tmp_path, [{"handle": f"p{i}", "link": f"https://shop.example.com/p{i}", "title": "T"}
                      for i in range(1, 201)])
    manifest = write("shop.yaml", FEED_MANIFEST)
    result = run("validate", manifest)
    assert result.exit_code == 3
    feed = tmp_path / "feed.jsonl"
    lines = result.stderr.strip().splitlines()
    # Every mistake of the row's template, each once, in the file's order: not 200 lines.
    assert lines == [
        f"{manifest}:8:12: template: field 'lnk' is not in the item (did you mean 'link'?; "
        f"fields: handle, link, title) (row {feed}:1; and 199 more rows)",
        f"{manifest}:10:16: template: no variable 'brnad' in vars (did you mean 'brand'?) "
        f"(row {feed}:1; and 199 more rows)",
        f"{manifest}:12:15: template: field 'language' is not in the item (fields: handle, "
        f"link, title) (row {feed}:1; and 199 more rows)",
    ]


def test_rows_are_named_in_numeric_order(tmp_path, write, run):
    # Items that differ (JSON items need not share fields) give one message each.
    _jsonl(tmp_path, [{"handle": f"p{i}", f"x{i}": "1"} for i in range(1, 13)])
    manifest = write("shop.yaml", FEED_MANIFEST)
    result = run("validate", manifest)
    assert result.exit_code == 3
    rows = [int(line.rsplit(":", 1)[1].rstrip(")")) for line in result.stderr.splitlines()
            if "field 'lnk'" in line]
    assert rows == list(range(1, 13))


def test_template_errors_speak_the_manifests_words(write, run):
    manifest = write("m.yaml", """
        version: 1
        vars:
          brand: Acme
          colors: {primary: red}
        products:
          - key: blender
            url: https://shop.example.com/blender
            details:
              title: "{{ vars.brnad }} PowerBlend"
              intro_text: "{{ product.kee }} in {{ vars.colors.prmary }}"
              target_audience: "{{ varz.brand }}"
            variants:
              - name: tiktok
                render: {lang: "{{ variant.nmae }}"}
          - key: kettle
            url: https://shop.example.com/kettle
            details:
              title: "{{ vars.brand | uper }}"
              intro_text: "{{ vars.colors.prmary }}"
    """)
    result = run("validate", manifest)
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == [
        f"{manifest}:9:14: template: no variable 'brnad' in vars (did you mean 'brand'?)",
        f"{manifest}:10:19: template: no key 'kee' in product (did you mean 'key'?)",
        f"{manifest}:11:24: template: no name 'varz' in templates (did you mean 'vars'?); "
        "they see env, vars, product, variant",
        f"{manifest}:14:24: template: no key 'nmae' in variant (did you mean 'name'?)",
        f"{manifest}:18:14: template syntax: no filter named 'uper' (did you mean 'upper'?)",
        f"{manifest}:19:19: template: no key 'prmary' in vars.colors (did you mean 'primary'?)",
    ]
    assert "dict object" not in result.stderr


def test_a_combined_file_reports_every_mistake(tmp_path, write, run):
    _jsonl(tmp_path, [{"handle": "a-1", "link": "https://shop.example.com/a-1", "stock": "3"},
                      {"handle": "b-2", "link": "https://shop.example.com/b-2", "stock": "0"}])
    manifest = write("shop.yaml", """
        version: 1
        vars:
          brand: Acme
        defaults:
          render: {aspect_ratio: "4:3"}
        products:
          - key: blender
            url: https://shop.example.com/blender
            details:
              titel: "{{ vars.brand }}"
        products_from:
          - file: feed.jsonl
            where: "row.stok | int > 0"
            product:
              key: "{{ row.handle }}"
              url: "{{ row.lnk }}"
              details:
                title: "{{ vars.brnad }}"
    """)
    result = run("validate", manifest)
    assert result.exit_code == 3
    found = result.stderr.strip().splitlines()
    # The where, the url and the title of the feed's template each fail: all are said,
    # beside the hand-written product's and the defaults' mistakes.
    assert [line.split(": ", 1)[0].rsplit(":", 2)[1] for line in found] == ["5", "10", "13", "16", "18"]
    assert "aspect_ratio: must be 9:16" in found[0]
    assert "unknown key 'titel'" in found[1]
    assert "field 'stok' is not in the item (did you mean 'stock'?" in found[2]
    assert "field 'lnk' is not in the item (did you mean 'link'?" in found[3]
    assert "no variable 'brnad' in vars (did you mean 'brand'?) (row" in found[4]
