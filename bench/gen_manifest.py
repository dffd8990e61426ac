"""Write a manifest with N products: shared templates in defaults, a templated title each.

    python bench/gen_manifest.py 10000 > /tmp/big.yaml
"""

from __future__ import annotations

import sys


def manifest(n: int) -> str:
    head = f"""version: 1
name: bench-{n}
env: [TARGET_AUDIENCE]
vars:
  brand: Acme
  audience: "{{{{ env.TARGET_AUDIENCE | default('busy parents') }}}}"
defaults:
  details:
    target_audience: "{{{{ vars.audience }}}}"
    intro_text: "{{{{ vars.brand }}}} quality for {{{{ vars.audience }}}}"
  render:
    aspect_ratio: "9:16"
    lang: english
    render_subtitle: true
    avatar_id: 37
    template_name: Card Stacking
    template_type: common
    script_style: Discovery_stage
products:
"""
    items = []
    for i in range(n):
        tag = ("kitchen", "office", "garden")[i % 3]
        items.append(
            f"  - key: p{i:06d}\n"
            f"    url: https://shop.example.com/products/{i}\n"
            f"    tags: [{tag}]\n"
            f"    details:\n"
            f"      title: \"{{{{ vars.brand }}}} {{{{ product.key | upper }}}} no. {i}\"\n"
        )
    return head + "".join(items)


if __name__ == "__main__":
    sys.stdout.write(manifest(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
