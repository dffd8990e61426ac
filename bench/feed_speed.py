"""Products from a feed against the same products written by hand: validate and plan, side
by side in one run, and peak memory per feed format.

    python bench/feed_speed.py            # 10,000 rows
    python bench/feed_speed.py 1000       # another size

Each wall time is the best of three runs of the command as a user runs it (a fresh process,
so start-up counts). Peak RSS is the validating process's own maximum resident set size.
The bar (issue #14): a 10,000-row CSV validates within 1.2x of the hand-written manifest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.gen_manifest import manifest as hand_written  # noqa: E402

TAGS = ("kitchen", "office", "garden")
PRODUCT = """\
    product:
      key: "{{{{ row.{key} }}}}"
      url: "{{{{ row.link }}}}"
      tags: "{{{{ row.{tag} }}}}"
      details:
        title: "{{{{ vars.brand }}}} {{{{ product.key | upper }}}} no. {{{{ row.{n} }}}}"
"""


def feed_manifest(n: int, file: str, fmt: str) -> str:
    """The generated hand-written manifest's head, with its products from a feed instead."""
    head = hand_written(0).replace(f"name: bench-{0}", f"name: feed-{fmt}-{n}").replace("products:\n", "")
    names = {"key": "id", "tag": "product_type", "n": "n"} if fmt == "xml" else \
        {"key": "handle", "tag": "type", "n": "n"}
    return head + f"products_from:\n  - file: {file}\n" + PRODUCT.format(**names)


def write_feeds(n: int, tmp: str) -> dict[str, str]:
    rows = [(f"p{i:06d}", f"https://shop.example.com/products/{i}", TAGS[i % 3], i) for i in range(n)]
    paths = {}
    with open(os.path.join(tmp, "feed.csv"), "w") as fh:
        fh.write("handle,link,type,n,title\n")
        fh.writelines(f"{h},{u},{t},{i},Product {i}\n" for h, u, t, i in rows)
    with open(os.path.join(tmp, "feed.jsonl"), "w") as fh:
        fh.writelines(json.dumps({"handle": h, "link": u, "type": t, "n": i}) + "\n" for h, u, t, i in rows)
    with open(os.path.join(tmp, "feed.xml"), "w") as fh:
        fh.write('<?xml version="1.0"?>\n<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">'
                 "<channel>\n")
        fh.writelines(f"<item><g:id>{h}</g:id><g:link>{escape(u)}</g:link><g:product_type>{t}"
                      f"</g:product_type><g:n>{i}</g:n><g:title>Product {i}</g:title></item>\n"
                      for h, u, t, i in rows)
        fh.write("</channel></rss>\n")
    for fmt, file in (("csv", "feed.csv"), ("jsonl", "feed.jsonl"), ("xml", "feed.xml")):
        paths[fmt] = os.path.join(tmp, f"feed-{fmt}.yaml")
        with open(paths[fmt], "w") as fh:
            fh.write(feed_manifest(n, file, fmt))
    paths["hand"] = os.path.join(tmp, "hand.yaml")
    with open(paths["hand"], "w") as fh:
        fh.write(hand_written(n))
    return paths


def best(args: list[str], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "jogg_flow", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


_RSS = ("import resource, sys; from jogg_flow.app import offline; r = offline.validate([sys.argv[1]]); "
        "assert not r[0].problems, r[0].problems; print(len(r[0].manifest.videos), "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def peak(path: str) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-c", _RSS, path], check=True, capture_output=True, text=True)
    videos, kib = out.stdout.split()
    return int(videos), int(kib) / 1024


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_feeds(n, tmp)
        rows = []
        for label in ("hand", "csv", "jsonl", "xml"):
            path = paths[label]
            videos, rss = peak(path)
            state = os.path.join(tmp, f"state-{label}.json")
            plan = best(["plan", path, "--state", state])
            rows.append((label, videos, best(["validate", path]), plan, rss))
    print(f"{'products from':>14} {'videos':>7} {'validate':>9} {'plan':>7} {'peak RSS':>9}")
    names = {"hand": "hand-written", "csv": "CSV", "jsonl": "JSON Lines", "xml": "Merchant XML"}
    for label, videos, v, p, rss in rows:
        print(f"{names[label]:>14} {videos:>7} {v:>8.2f}s {p:>6.2f}s {rss:>7.0f}MB")
    hand, csv_row = rows[0], rows[1]
    print(f"CSV / hand-written: validate {csv_row[2] / hand[2]:.2f}x, plan {csv_row[3] / hand[3]:.2f}x "
          "(the bar: within 1.2x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)
