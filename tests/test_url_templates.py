"""`{{ product.key }}` and `product.tags` in a product's `url`, as in every other string;
`product.url` and `variant.*` there are refused with the reason (a url is the product's,
shared by its variants)."""

from __future__ import annotations

import pytest

from tests.conftest import FAKE_KEY

SHOP = """
version: 1
products:
  - key: blender
    tags: [kitchen]
    url: "https://shop.example.com/p/{{ product.key }}"
    details:
      title: "Blender from {{ product.url }}"
    variants:
      - name: tiktok
      - name: youtube
  - key: kettle
    tags: [kitchen, tea]
    url: "https://shop.example.com/{{ product.tags | first }}/{{ product.key }}"
"""


def test_product_key_in_url_validates_and_applies(write, run, sandbox, tmp_path):
    manifest = write("m.yaml", SHOP)
    checked = run("validate", manifest)
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.strip().endswith("m.yaml: ok (3 videos)")
    result = run("apply", manifest, "--api-base", sandbox.url, "--state", str(tmp_path / "s.json"),
                 "--poll-interval", "0.05", "--poll-max", "0.2", "-q", env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 0, result.stderr
    crawled = sorted({p["url"] for p in sandbox.backend.products.values()})
    assert crawled == ["https://shop.example.com/kitchen/kettle", "https://shop.example.com/p/blender"]
    titles = {p["title"] for p in sandbox.backend.products.values()}
    assert "Blender from https://shop.example.com/p/blender" in titles


@pytest.mark.parametrize(("url", "reason"), [
    ("https://shop.example.com/{{ product.url }}",
     "product.url cannot be used in url itself (it is the value being made)"),
    ("https://shop.example.com/{{ variant.name }}",
     "variant.name cannot be used in url: url belongs to the product, and its variants share it"),
    ("https://shop.example.com/{{ product.sku }}", "product has no 'sku' in url"),
])
def test_what_url_cannot_see_is_refused_with_the_reason(write, run, url, reason):
    manifest = write("m.yaml", SHOP.replace('"https://shop.example.com/p/{{ product.key }}"', f'"{url}"'))
    result = run("validate", manifest)
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{manifest}:5:10: template: {reason}"), lines


def test_a_feed_products_url_sees_its_key(write, run, sandbox, tmp_path):
    write("feeds/catalog.csv", "handle,title\nblue-mug,Blue mug\nred-mug,Red mug\n")
    manifest = write("m.yaml", """
        version: 1
        products_from:
          - file: feeds/catalog.csv
            product:
              key: "{{ row.handle }}"
              url: "https://shop.example.com/products/{{ product.key }}"
        """)
    result = run("apply", manifest, "--api-base", sandbox.url, "--state", str(tmp_path / "s.json"),
                 "--poll-interval", "0.05", "--poll-max", "0.2", "-q", env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 0, result.stderr
    assert sorted(p["url"] for p in sandbox.backend.products.values()) == [
        "https://shop.example.com/products/blue-mug", "https://shop.example.com/products/red-mug"]
