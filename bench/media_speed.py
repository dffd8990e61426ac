"""Local media: what checking and hashing the files costs `validate`, and what a catalogue's
uploads cost an `apply` in POSTs, against the sandbox.

    python bench/media_speed.py            # 1,000 products, 3 pictures each of 200 distinct files
    python bench/media_speed.py 200 50     # 200 products, 50 distinct files

Validate: the median CPU time (user + system) of 5 fresh processes each, for the manifest
naming local files and for the same manifest naming URLs instead, with the bytes hashed.
Apply (against the sandbox, renders not awaited): the POSTs a first apply makes (products,
uploads, renders), counted by the sandbox, and those of a second apply after one file changed.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jogg_flow.sandbox import Config, Sandbox  # noqa: E402

FILE_BYTES = 200 * 1024
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def write(root: str, products: int, files: int, local: bool) -> str:
    os.makedirs(os.path.join(root, "media"), exist_ok=True)
    for i in range(files):
        path = os.path.join(root, "media", f"p{i}.jpg")
        if not os.path.exists(path):
            with open(path, "wb") as fh:
                fh.write(JPEG_HEAD + i.to_bytes(4, "big") + os.urandom(FILE_BYTES))
    lines = ["version: 1", "api: {version: v2}", "defaults: {render: {avatar_id: 37}}", "products:"]
    for n in range(products):
        names = [f"media/p{(n * 3 + k) % files}.jpg" for k in range(3)]
        medias = names if local else [f"https://cdn.example.com/{x}" for x in names]
        lines += [f"  - key: p{n}", f"    url: https://shop.example/p/{n}",
                  f"    details: {{intro_medias: [{', '.join(medias)}]}}"]
    path = os.path.join(root, f"{'local' if local else 'urls'}.yaml")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def cpu(args: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "jogg_flow", *args], check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def posts(manifest: str, sandbox: Any) -> dict[str, int]:
    """An apply (not waiting for renders) against `sandbox`: the POSTs it made, by kind."""
    before = dict(sandbox.stats()["requests"])
    env = {**os.environ, "JOGG_API_KEY": "bench-key-0000", "JOGG_API_BASE": sandbox.url}
    subprocess.run([sys.executable, "-m", "jogg_flow", "apply", manifest, "--no-wait", "--post-rate",
                    "1000/1s", "--state", manifest + ".state.json"], check=True, capture_output=True, env=env)
    made = {k: v - before.get(k, 0) for k, v in sandbox.stats()["requests"].items() if k.startswith("POST ")}
    return {"posts": sum(made.values()), "uploads": made.get("POST /v2/upload/asset", 0),
            "renders": made.get("POST /v2/create_video_from_product", 0)}


def main() -> None:
    products = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with tempfile.TemporaryDirectory() as root:
        local, urls = write(root, products, files, True), write(root, products, files, False)
        times = {"local": [], "urls": []}  # type: dict[str, list[float]]
        for _ in range(5):  # interleaved: a noisy machine drifts both alike
            times["local"].append(cpu(["validate", local]))
            times["urls"].append(cpu(["validate", urls]))
        with Sandbox(Config(time_scale=60.0, post_limit=1000)) as sandbox:
            first = posts(local, sandbox)
            with open(os.path.join(root, "media", "p0.jpg"), "ab") as fh:
                fh.write(b"edited")
            second = posts(local, sandbox)
    mb = files * FILE_BYTES / 2**20
    print(f"{products} products naming 3 of {files} files ({mb:.0f} MB):")
    print(f"  validate, local files: {statistics.median(times['local']):.2f} s CPU; "
          f"the same with URLs: {statistics.median(times['urls']):.2f} s")
    print(f"  first apply: {first['posts']} POSTs ({first['uploads']} uploads, {first['renders']} renders)")
    print(f"  after one file changed: {second['posts']} POSTs ({second['uploads']} upload, "
          f"{second['renders']} renders)")


if __name__ == "__main__":
    main()
