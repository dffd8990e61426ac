"""Each fixture in fixtures/feeds breaks (or shows) one rule of a feed format; the message
must name the feed (or the manifest field) at the exact line."""

from __future__ import annotations

import pathlib
import shutil

import pytest

from jogg_flow.errors import ManifestError
from jogg_flow.manifest import load_manifest

FIX = pathlib.Path(__file__).parent / "fixtures" / "feeds"
COLUMNS = ('key: "{{ row.handle }}"\n      url: "{{ row.link }}"\n'
           '      details: {title: "{{ row.title }}"}')
PRODUCT = {
    "merchant": 'key: "{{ row.id | lower }}"\n      url: "{{ row.link }}"',
    "shopify": 'key: "{{ row.Handle }}"\n      url: "https://shop.example.com/products/{{ row.Handle }}"',
}

# fixture -> where the problem is (FEED or MANIFEST) at LINE:COL, and the message.
BROKEN = {
    "csv-empty-handle.csv": "FEED:3:1: column 'handle' is empty",
    "csv-missing-column.csv": "MANIFEST:5:12: template: column 'handle' is not in FEED "
                              "(did you mean 'Handle'?; columns: Handle, link, title)",
    "csv-not-utf8.csv": "FEED:3:37: is not UTF-8 (byte 0xe9); save it as UTF-8",
    "csv-utf16.csv": "FEED:1:1: is UTF-16; save it as UTF-8 (with or without BOM)",
    "csv-field-count.csv": "FEED:3:1: row has 4 fields; the header has 3\n"
                           "FEED:4:1: row has 2 fields; the header has 3",
    "csv-unclosed-quote.csv": "FEED:3:1: is not valid CSV: unexpected end of data",
    "csv-duplicate-column.csv": "FEED:1:1: the header names column 'link' twice",
    "csv-duplicate-key.csv": "FEED:4:1: duplicate product key 'a-1' (first used by FEED:2)",
    "csv-empty.csv": "FEED:1:1: is empty; a CSV feed needs a header row",
    "csv-bad-url.csv": "MANIFEST:6:12: products_from[0].product.url: must be an absolute http(s) URL "
                       "(templated from '{{ row.link }}') (row FEED:3; and 1 more row)",
    "csv-bad-key.csv": "MANIFEST:5:12: products_from[0].product.key: must match "
                       "[a-z0-9][a-z0-9._-]{0,63} (templated from '{{ row.handle }}') (row FEED:2)",
    "json-empty-handle.json": "FEED:3:1: column 'handle' is empty".replace("column", "field"),
    "json-item-not-object.json": "FEED:3:1: item is a string, not an object",
    "json-syntax.json": "FEED:3:3: is not valid JSON: Expecting ',' delimiter",
    "json-two-arrays.json": "FEED:1:1: must be an array of objects, or an object holding exactly one "
                            "array (found an object with 2 arrays)",
    "jsonl-bad-line.jsonl": "FEED:2:76: is not valid JSON: Expecting ',' delimiter",
    "jsonl-missing-field.jsonl": "MANIFEST:5:12: template: field 'handle' is not in the item "
                                 "(did you mean 'Handle'?; fields: Handle, link, title) (row FEED:2)",
    "merchant-billion-laughs.xml": "FEED:2:1: has a document type declaration (<!DOCTYPE ...>); "
                                   "feeds must not declare entities, so it is refused",
    "merchant-external-entity.xml": "FEED:2:1: has a document type declaration (<!DOCTYPE ...>); "
                                    "feeds must not declare entities, so it is refused",
    "merchant-undeclared-entity.xml": "FEED:4:10: is not valid XML: undefined entity",
    "merchant-broken-xml.xml": "FEED:4:70: is not valid XML: mismatched tag",
    "merchant-no-items.xml": "FEED:1:1: has no <item> (RSS 2.0) or <entry> (Atom) elements",
    "merchant-empty-link.xml": "FEED:4:1: field 'link' is empty",
    "shopify-handle-regrouped.csv": "FEED:4:1: Handle 'ridge-tent' appears again after other products "
                                    "(first at line 2); Shopify groups a product's lines",
    "shopify-not-an-export.csv": "FEED:1:1: is not a Shopify product export: there is no 'Handle' column",
    # Deep or odd input (issue 22, item 5): refused at its line, never a traceback.
    "jsonl-nested-50000-deep.jsonl": "FEED:2:1: is nested too deeply (a product's item is at most 32 "
                                     "levels deep)",
    "json-nested-50000-deep.json": "FEED:2:1: is nested too deeply (a product's item is at most 32 "
                                   "levels deep)",
    "jsonl-nested-40-deep.jsonl": "FEED:1:1: is nested too deeply (a product's item is at most 32 levels deep)",
    "merchant-utf7.xml": "FEED:1:1: declares an encoding the XML reader cannot read (multi-byte encodings "
                         "such as UTF-7 are not supported); save it as UTF-8",
    # Values no state store can keep (item 6): refused at validate, naming the row.
    "jsonl-nul-in-title.jsonl": "MANIFEST:7:24: products_from[0].product.details.title: holds a NUL "
                                "character, which a state cannot keep (row FEED:2)",
    "jsonl-lone-surrogate.jsonl": "MANIFEST:7:24: products_from[0].product.details.title: holds a lone "
                                  "surrogate (half of a UTF-16 pair), which a state cannot keep (row FEED:1)",
}
GOOD = {
    "csv-good.csv": ["a-1", "b-2"],
    "csv-bom.csv": ["a-1"],
    "json-good.json": ["a-1", "b-2"],
    "jsonl-good.jsonl": ["a-1", "b-2"],
    "merchant-atom.xml": ["a-1", "b-2"],
    "merchant-good.tsv": ["sku-1"],
    "shopify-good.csv": ["ridge-tent", "mini-stove"],
    "jsonl-integer-5000-digits.jsonl": ["a-1", "b-2"],  # kept as its digits, never converted
}


def manifest_for(tmp_path: pathlib.Path, fixture: pathlib.Path) -> str:
    """A manifest reading a copy of `fixture` in feeds/ beside it (a manifest reads only
    inside its own folder tree)."""
    family = fixture.name.split("-")[0]
    fmt = "\n    format: shopify" if family == "shopify" else ""
    (tmp_path / "feeds").mkdir(exist_ok=True)
    shutil.copy(fixture, tmp_path / "feeds" / fixture.name)
    path = tmp_path / "shop.yaml"
    path.write_text(f"version: 1\nproducts_from:\n  - file: feeds/{fixture.name}{fmt}\n    product:\n"
                    f"      {PRODUCT.get(family, COLUMNS)}\n")
    return str(path)


def test_every_fixture_is_listed():
    assert sorted(p.name for p in FIX.iterdir()) == sorted({**BROKEN, **GOOD})


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_feed_is_reported_at_its_line(name, tmp_path, run):
    fixture = FIX / name
    manifest = manifest_for(tmp_path, fixture)
    result = run("validate", manifest)
    assert result.exit_code == 3
    assert "Traceback" not in result.output + result.stderr
    expected = BROKEN[name].replace("MANIFEST", manifest).replace("FEED", str(tmp_path / "feeds" / name))
    assert result.stderr.strip() == expected


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_feed_gives_its_products(name, tmp_path):
    loaded = load_manifest(manifest_for(tmp_path, FIX / name))
    assert [v.key for v in loaded.videos] == GOOD[name]


def test_xml_bomb_is_refused_without_expanding(tmp_path):
    # Refused at the declaration: nothing of the bomb is expanded, so this is instant.
    with pytest.raises(ManifestError) as err:
        load_manifest(manifest_for(tmp_path, FIX / "merchant-billion-laughs.xml"))
    assert "lol" not in str(err.value)
    assert "has a document type declaration" in str(err.value)


def test_an_entity_below_expats_own_limits_is_refused_too(tmp_path):
    """expat stops a billion laughs by itself (past 8 MiB of expansion), so the bomb above
    would be refused without our guard; this one expands to 2 MB, under expat's limits, and
    would land in every title: only the refusal of declarations stops it."""
    entity = "x" * 10_000
    feed = tmp_path / "merchant-quadratic.xml"
    feed.write_text(
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE rss [<!ENTITY big "{entity}">]>\n'
        '<rss xmlns:g="http://base.google.com/ns/1.0"><channel>\n'
        '<item><g:id>a-1</g:id><link>https://shop.example/a</link>'
        f'<title>{"&big;" * 200}</title></item>\n'
        '</channel></rss>\n')
    with pytest.raises(ManifestError) as err:
        load_manifest(manifest_for(tmp_path, feed))
    assert "merchant-quadratic.xml:2:1: has a document type declaration" in str(err.value)
    assert "xxxx" not in str(err.value)
