"""Feed rows become products through the manifest's own path: defaults, templating, tags,
variants, key clashes, `where`, `plan` (replace, orphaned), `--select`, and the examples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jogg_flow.errors import ManifestError
from jogg_flow.feeds import Hashing, Row, Source, read
from jogg_flow.manifest import load_manifest
from jogg_flow.manifest.feed_rows import FeedInfo

from .conftest import FAKE_KEY, ROOT
from .test_feeds import FIX

CATALOG = """\
handle,link,title,type,tags,stock
blender,https://shop.example.com/blender,PowerBlend,Kitchen,"kitchen, Summer Sale",in stock
lamp,https://shop.example.com/lamp,Arc Lamp,Office,office,in stock
kettle,https://shop.example.com/kettle,Kettle,Kitchen,kitchen,out of stock
"""
MANIFEST = """\
version: 1
vars: {brand: Acme}
defaults:
  details: {target_audience: cooks}
  render: {lang: english, aspect_ratio: "9:16"}
products:
  - key: hand-made
    url: https://shop.example.com/hand-made
products_from:
  - file: catalog.csv
    where: row.stock == 'in stock'
    product:
      key: "{{ row.handle }}"
      url: "{{ row.link }}"
      tags: ["{{ row.tags }}", "{{ row.type | lower }}"]
      details:
        title: "{{ vars.brand }} {{ row.title }}"
      variants:
        - name: tiktok
        - name: wide
          render: {aspect_ratio: "16:9"}
"""


@pytest.fixture
def shop(tmp_path):
    (tmp_path / "catalog.csv").write_text(CATALOG)
    (tmp_path / "shop.yaml").write_text(MANIFEST)
    return tmp_path


def test_rows_get_defaults_templating_tags_and_variants(shop):
    loaded = load_manifest(str(shop / "shop.yaml"))
    videos = {v.key: v for v in loaded.videos}
    assert list(videos) == ["hand-made", "blender/tiktok", "blender/wide", "lamp/tiktok", "lamp/wide"]
    blender = videos["blender/wide"]
    assert blender.details == {"target_audience": "cooks", "title": "Acme PowerBlend"}
    assert blender.render == {"lang": "english", "aspect_ratio": 1}
    assert blender.tags == ("kitchen", "Summer-Sale")
    # The manifest line of a feed's video is its products_from entry.
    assert loaded.line_of(blender) == 10
    assert loaded.feeds[0].products == 2 and loaded.feeds[0].digest.startswith("sha256:")


def test_a_key_clash_with_a_hand_written_product_names_both(shop):
    (shop / "catalog.csv").write_text(CATALOG + "hand-made,https://shop.example.com/x,X,A,a,in stock\n")
    with pytest.raises(ManifestError) as err:
        load_manifest(str(shop / "shop.yaml"))
    assert str(err.value) == (f"{shop / 'catalog.csv'}:5:1: duplicate product key 'hand-made' "
                              f"(first used by products[0] at {shop / 'shop.yaml'}:7)")


def test_the_same_template_error_on_every_row_is_said_once_with_a_count(shop):
    text = MANIFEST.replace('"{{ vars.brand }} {{ row.title }}"', '"{{ row.title | int(strict) }}"')
    (shop / "shop.yaml").write_text(text)
    with pytest.raises(ManifestError) as err:
        load_manifest(str(shop / "shop.yaml"))
    (problem,) = err.value.problems
    assert problem.line == 17
    assert problem.message.endswith(f"(row {shop / 'catalog.csv'}:2; and 1 more row)")


def test_feed_values_are_never_rendered_as_templates(shop):
    (shop / "catalog.csv").write_text(CATALOG.replace("PowerBlend", "{{ env.HOME }}"))
    videos = {v.key: v for v in load_manifest(str(shop / "shop.yaml")).videos}
    assert videos["blender/tiktok"].details["title"] == "Acme {{ env.HOME }}"


def test_the_api_key_in_a_feed_never_reaches_a_video(shop):
    (shop / "catalog.csv").write_text(CATALOG.replace("PowerBlend", FAKE_KEY))
    with pytest.raises(ManifestError) as err:
        load_manifest(str(shop / "shop.yaml"), {"JOGG_API_KEY": FAKE_KEY})
    assert "API keys are not accepted" in str(err.value) and FAKE_KEY not in str(err.value)


def test_plan_replaces_a_changed_row_orphans_a_removed_one_and_selects_feed_tags(shop, run):
    manifest = str(shop / "shop.yaml")
    applied = run("apply", manifest, "--sandbox", "-q", "--poll-interval", "0.05", "--poll-max", "0.2")
    assert applied.exit_code == 0, applied.stderr
    selected = run("plan", manifest, "--sandbox", "--select", "tag:office", "--output", "json")
    assert [i["key"] for i in json.loads(selected.stdout)["items"]] == ["lamp/tiktok", "lamp/wide"]
    changed = CATALOG.replace("PowerBlend", "PowerBlend 2").replace(
        "lamp,https://shop.example.com/lamp,Arc Lamp,Office,office,in stock\n", "")
    (shop / "catalog.csv").write_text(changed)
    items = {i["key"]: i for i in json.loads(run("plan", manifest, "--sandbox", "--output", "json").stdout)["items"]}
    assert items["blender/tiktok"] == {"key": "blender/tiktok", "action": "replace",
                                       "changes": ["details.title"],
                                       "diff": [{"field": "details.title", "old": "Acme PowerBlend",
                                                 "new": "Acme PowerBlend 2"}]}
    assert items["lamp/wide"]["action"] == "orphaned"
    assert items["hand-made"]["action"] == "up-to-date"


def test_validate_offline_skips_a_url_feed_with_a_note(tmp_path, run):
    path = tmp_path / "remote.yaml"
    path.write_text("version: 1\nproducts_from:\n  - url: https://127.0.0.1:9/feed.csv\n"
                    "    product: {key: '{{ row.handle }}', url: '{{ row.link }}'}\n")
    offline = run("validate", "--offline", str(path))
    assert offline.exit_code == 0
    assert "note: https://127.0.0.1:9/feed.csv: not fetched (--offline)" in offline.stderr
    online = run("validate", str(path))
    assert online.exit_code == 3 and "Traceback" not in online.stderr
    assert f"{path}:3:10: https://127.0.0.1:9/feed.csv: cannot connect" in online.stderr


def test_a_url_feed_must_be_https(tmp_path, run):
    path = tmp_path / "remote.yaml"
    path.write_text("version: 1\nproducts_from:\n  - url: http://shop.example.com/feed.csv\n"
                    "    product: {key: '{{ row.handle }}', url: '{{ row.link }}'}\n")
    result = run("validate", "--offline", str(path))
    assert result.exit_code == 3
    assert f"{path}:3:10: products_from[0].url: must be an https:// URL" in result.stderr


def test_shopify_rows_group_variants_and_images():
    rows = _rows(FIX / "shopify-good.csv", "shopify")
    tent = rows[0].values
    assert (rows[0].line, tent["Handle"], tent["Title"], tent["Vendor"]) == (2, "ridge-tent", "Ridgeline Tent", "Acme")
    assert tent["body_text"] == "Three-season tent. 1.9 kg"
    assert tent["images"] == ["https://cdn.example.com/rt-1.jpg", "https://cdn.example.com/rt-2.jpg",
                              "https://cdn.example.com/rt-3p.jpg"]
    assert [v["Variant SKU"] for v in tent["variants"]] == ["RT-2", "RT-3"]
    assert rows[1].line == 5


def test_shopify_images_become_intro_medias_and_tags_split(tmp_path):
    shutil.copy(FIX / "shopify-good.csv", tmp_path)
    (tmp_path / "shop.yaml").write_text(
        "version: 1\nproducts_from:\n  - file: shopify-good.csv\n    format: shopify\n"
        "    product:\n      key: '{{ row.Handle }}'\n"
        "      url: 'https://shop.example.com/products/{{ row.Handle }}'\n"
        "      tags: '{{ row.Tags }}'\n"
        "      details: {title: '{{ row.Title }}', intro_text: '{{ row.body_text }}',"
        " intro_medias: '{{ row.images }}'}\n")
    tent = load_manifest(str(tmp_path / "shop.yaml")).videos[0]
    assert tent.tags == ("camping", "summer-sale")
    assert [m["url"] for m in tent.details["intro_medias"]] == [
        "https://cdn.example.com/rt-1.jpg", "https://cdn.example.com/rt-2.jpg",
        "https://cdn.example.com/rt-3p.jpg"]
    assert tent.details["intro_medias"][0] == {"type": 1, "url": "https://cdn.example.com/rt-1.jpg",
                                               "name": "rt-1.jpg"}


def test_merchant_rows_have_every_field_and_image_lists():
    rows = _rows(ROOT / "manifests" / "feeds" / "merchant.xml", "merchant-xml")
    first, second = rows[0].values, rows[1].values
    assert rows[0].line == 7
    assert first["product_type"] == "Camping > Tents" and first["price"] == "249.00 USD"
    assert first["additional_image_link"] == ["https://cdn.example.com/outdoor/ridgeline-tent-inside.jpg",
                                              "https://cdn.example.com/outdoor/ridgeline-tent-packed.jpg"]
    assert second["additional_image_link"] == [] and len(second["images"]) == 1
    assert len(rows[2].values["additional_image_link"]) == 2  # a comma list


@pytest.mark.parametrize("name", ["shop-csv.yaml", "shop-merchant.yaml"])
def test_examples_validate_and_apply_against_the_sandbox(name, tmp_path, run):
    shutil.copy(ROOT / "manifests" / name, tmp_path / name)
    shutil.copytree(ROOT / "manifests" / "feeds", tmp_path / "feeds")
    manifest = str(tmp_path / name)
    assert run("validate", manifest).exit_code == 0
    result = run("apply", manifest, "--sandbox", "--output", "json", "--poll-interval", "0.05",
                 "--poll-max", "0.2")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    done = [e for e in events if e["event"] == "video" and e["status"] == "succeeded"]
    assert len(done) == len(load_manifest(manifest).videos) > 0


@pytest.mark.parametrize("feed", ["catalog.csv", "merchant.xml"])
def test_init_from_a_feed_writes_a_manifest_that_validates(feed, tmp_path, run):
    shutil.copytree(ROOT / "manifests" / "feeds", tmp_path / "feeds")
    target = str(tmp_path / "new.yaml")
    assert run("init", target, "--from", str(tmp_path / "feeds" / feed)).exit_code == 0
    text = (tmp_path / "new.yaml").read_text()
    assert 'url: "{{ row.link }}"' in text and "title:" in text
    result = run("validate", target)
    assert result.exit_code == 0, result.stderr


def test_init_from_a_shopify_export_maps_its_columns(tmp_path, run):
    target = str(tmp_path / "new.yaml")
    shutil.copy(FIX / "shopify-good.csv", tmp_path)
    assert run("init", target, "--from", str(tmp_path / "shopify-good.csv")).exit_code == 0
    text = (tmp_path / "new.yaml").read_text()
    assert "format: shopify" in text and 'intro_medias: "{{ row.images }}"' in text
    loaded = load_manifest(target)
    assert [v.key for v in loaded.videos] == ["ridge-tent", "mini-stove"]


def test_feed_info_is_in_validate_json(shop, run):
    result = run("validate", "--output", "json", str(shop / "shop.yaml"))
    (feed,) = json.loads(result.stdout)[0]["feeds"]
    assert feed["source"] == str(shop / "catalog.csv") and feed["products"] == 2
    assert FeedInfo(**feed).digest == feed["digest"]


def _rows(path: Path, fmt: str) -> list[Row]:
    """Every row of a fixture feed, read as the manifest reads a feed file (none of them bad)."""
    with open(path, "rb") as fh:
        stream = Hashing(fh)
        items = list(read(Source(path.name, stream), fmt, stream))
    rows = [item for item in items if isinstance(item, Row)]
    assert rows == items, items
    return rows


def test_a_missing_feed_file_is_placed_on_its_manifest_line(shop, run):
    (shop / "catalog.csv").unlink()
    result = run("validate", str(shop / "shop.yaml"))
    assert result.exit_code == 3
    assert result.stderr.strip() == (f"{shop / 'shop.yaml'}:10:11: {shop / 'catalog.csv'}: cannot read "
                                     "(No such file or directory)")


def test_init_from_a_broken_feed_is_a_one_line_usage_error(tmp_path, run):
    shutil.copy(FIX / "csv-utf16.csv", tmp_path)
    result = run("init", str(tmp_path / "new.yaml"), "--from", str(tmp_path / "csv-utf16.csv"))
    assert result.exit_code == 3 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"error: {tmp_path / 'csv-utf16.csv'}:1: is UTF-16; save it as UTF-8 "
                                     "(with or without BOM)")
    assert not (tmp_path / "new.yaml").exists()


def test_init_from_json_lines_maps_its_fields(tmp_path, run):
    target = str(tmp_path / "new.yaml")
    shutil.copy(FIX / "jsonl-good.jsonl", tmp_path)
    assert run("init", target, "--from", str(tmp_path / "jsonl-good.jsonl")).exit_code == 0
    assert [v.key for v in load_manifest(target).videos] == ["a-1", "b-2"]


def test_state_commands_never_fetch_a_url_feed(tmp_path, run):
    path = tmp_path / "remote.yaml"
    path.write_text("version: 1\nproducts_from:\n  - url: https://127.0.0.1:9/feed.csv\n"
                    "    product: {key: '{{ row.handle }}', url: '{{ row.link }}'}\n")
    assert run("state", "list", str(path)).exit_code == 0
    assert run("unlock", str(path)).exit_code == 0


def test_a_column_named_like_a_mapping_method_is_the_column(tmp_path):
    (tmp_path / "feed.csv").write_text("keys,items,link\na-1,Three items,https://shop.example.com/a\n")
    (tmp_path / "m.yaml").write_text("version: 1\nproducts_from:\n  - file: feed.csv\n    product:\n"
                                     "      key: '{{ row.keys }}'\n      url: '{{ row.link }}'\n"
                                     "      details: {title: '{{ row.items }}'}\n")
    (video,) = load_manifest(str(tmp_path / "m.yaml")).videos
    assert (video.key, video.details["title"]) == ("a-1", "Three items")


def test_apply_with_a_broken_feed_exits_3_and_leaves_no_state(shop, run):
    (shop / "catalog.csv").write_text(CATALOG + ",https://shop.example.com/x,X,A,a,in stock\n")
    result = run("apply", str(shop / "shop.yaml"), "--sandbox")
    assert result.exit_code == 3 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"{shop / 'catalog.csv'}:5:1: column 'handle' is empty"
    assert not (shop / ".jogg-flow").exists()
