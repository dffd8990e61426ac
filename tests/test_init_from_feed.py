"""`init --from FEED` starts where `init` starts: the same API generation, a `where:` that
leaves out what a shop would not promote (Shopify drafts and unpublished products), and the
usual column names of JSON Lines and CSV exports recognised."""

from __future__ import annotations

import json
from typing import Any

import yaml

SHOPIFY = (
    "Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Status,Variant SKU,Image Src\n"
    "tent,Tent,<p>Tent</p>,Acme,Tents,,TRUE,active,T-1,https://cdn.example.com/t.jpg\n"
    "draft-lamp,Lamp,<p>Lamp</p>,Acme,Lamps,,TRUE,draft,L-1,https://cdn.example.com/l.jpg\n"
    "hidden-mug,Mug,<p>Mug</p>,Acme,Mugs,,FALSE,active,M-1,https://cdn.example.com/m.jpg\n"
    "old-stove,Stove,<p>Stove</p>,Acme,Stoves,,TRUE,archived,S-1,https://cdn.example.com/s.jpg\n")


def _init(run, tmp_path, feed_name: str, text: str) -> dict[str, Any]:
    (tmp_path / feed_name).write_text(text)
    made = run("init", str(tmp_path / "m.yaml"), "--from", str(tmp_path / feed_name))
    assert made.exit_code == 0, made.stderr
    loaded: dict[str, Any] = yaml.safe_load((tmp_path / "m.yaml").read_text())
    return loaded


def test_the_same_api_generation_as_init(run, tmp_path):
    made = run("init", str(tmp_path / "plain.yaml"))
    assert made.exit_code == 0, made.stderr
    plain = yaml.safe_load((tmp_path / "plain.yaml").read_text())
    from_feed = _init(run, tmp_path, "shop.csv", SHOPIFY)
    assert from_feed["api"]["version"] == plain["api"]["version"] == "v1"


def test_a_shopify_export_plans_no_draft_unpublished_or_archived_product(run, tmp_path):
    _init(run, tmp_path, "shop.csv", SHOPIFY)
    plan = run("plan", str(tmp_path / "m.yaml"), "--sandbox", "--output", "json")
    assert plan.exit_code == 0, plan.stderr
    assert [i["key"] for i in json.loads(plan.stdout)["items"]] == ["tent"]


def test_json_lines_export_names_are_recognised(run, tmp_path):
    rows = [{"productId": "a-1", "productUrl": "https://shop.example/a", "productName": "Kettle",
             "pictures": ["https://cdn.example.com/a.jpg"]}]
    made = _init(run, tmp_path, "shop.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    product = made["products_from"][0]["product"]
    assert product["key"] == "{{ row.productId | lower }}"
    assert product["url"] == "{{ row.productUrl }}"
    assert product["details"] == {"title": "{{ row.productName }}", "intro_medias": "{{ row.pictures }}"}
    valid = run("validate", str(tmp_path / "m.yaml"))
    assert valid.exit_code == 0, valid.stderr
