"""Products from a feed against the same products written by hand: validate and plan, side
by side in one run, and peak memory per feed format.

    python bench/feed_speed.py            # 10,000 rows
    python bench/feed_speed.py 1000       # another size
    python bench/feed_speed.py 10000 9    # 9 pairs per figure

Each figure is the median CPU time (user + system) of fresh processes, as a user runs them
(start-up counts), and its ratio to the hand-written manifest is the median of the ratios of
interleaved pairs, with their spread (max - min): the machines are shared and noisy, so a
ratio measured pair by pair holds where single times drift. Peak RSS is the validating
process's own maximum resident set size.
The bar (issue #14): a 10,000-row CSV validates within 1.2x of the hand-written manifest.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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


def _cpu(args: list[str]) -> float:
    """The CPU seconds (user + system) of one fresh `python -m jogg_flow ARGS`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "jogg_flow", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def paired(a: list[str], b: list[str], runs: int = 5) -> tuple[float, float, float, float]:
    """A against B in fresh processes, interleaved (A B, B A, ...) after one warm-up of each:
    (median CPU seconds of A, of B, and the min and median of the per-pair ratios A/B; the
    max is the third figure's spread). CPU time, not wall time: the machines are shared."""
    _cpu(a), _cpu(b)
    pairs = []
    for i in range(runs):
        if i % 2:
            tb, ta = _cpu(b), _cpu(a)
        else:
            ta, tb = _cpu(a), _cpu(b)
        pairs.append((ta, tb))
    ratios = sorted(ta / tb for ta, tb in pairs)
    return (statistics.median(t for t, _ in pairs), statistics.median(t for _, t in pairs),
            statistics.median(ratios), ratios[-1] - ratios[0])


_RSS = ("import resource, sys; from jogg_flow.app import check; r = check.validate([sys.argv[1]]); "
        "assert not r[0].problems, r[0].problems; print(len(r[0].manifest.videos), "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def peak(path: str) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-c", _RSS, path], check=True, capture_output=True, text=True)
    videos, kib = out.stdout.split()
    return int(videos), int(kib) / 1024


def main(n: int, runs: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_feeds(n, tmp)
        hand = paths["hand"]
        print(f"{'products from':>14} {'videos':>7} {'validate':>22} {'plan':>22} {'peak RSS':>9}")
        print(f"{'':>14} {'':>7} {'CPU s, x hand (spread)':>22} {'CPU s, x hand (spread)':>22}")
        names = {"hand": "hand-written", "csv": "CSV", "jsonl": "JSON Lines", "xml": "Merchant XML"}
        for label in ("hand", "csv", "jsonl", "xml"):
            path = paths[label]
            videos, rss = peak(path)
            figures = []
            for command in ("validate", "plan"):
                extra = [] if command == "validate" else ["--state", os.path.join(tmp, f"s-{label}.json")]
                hand_extra = [] if command == "validate" else ["--state", os.path.join(tmp, "s-hand.json")]
                cpu, _, ratio, spread = paired([command, path, *extra], [command, hand, *hand_extra], runs)
                figures.append(f"{cpu:6.2f} {ratio:5.2f}x ({spread:4.2f})")
            print(f"{names[label]:>14} {videos:>7} {figures[0]:>22} {figures[1]:>22} {rss:>7.0f}MB")
    print(f"paired medians of {runs} interleaved fresh processes each (the bar: a CSV within 1.2x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10000, int(sys.argv[2]) if len(sys.argv) > 2 else 5)
