"""The seed's curl recipe as a user would script it: one product at a time.

create -> update -> render -> poll every 10 s (JoggAI's cadence for the first minute) until
done -> next product. No budget logic: at one video at a time it never needs any.
"""

from __future__ import annotations

import time

import requests


def run(base: str, key: str, urls: list[str], scale: float) -> dict[str, int]:
    """Make one video per URL, sequentially; return the calls made."""
    session = requests.Session()
    session.headers["x-api-key"] = key
    calls = {"post": 0, "put": 0, "get": 0}
    for url in urls:
        data = session.post(f"{base}/open/product", json={"url": url}, timeout=30).json()["data"]
        calls["post"] += 1
        session.put(f"{base}/open/product", timeout=30,
                    json={"product_id": data["id"], "title": f"Title of {url}"})
        calls["put"] += 1
        session.post(f"{base}/open/project/render", timeout=30,
                     json={"project_id": data["prj_id"], "aspect_ratio": 0, "lang": "english"})
        calls["post"] += 1
        while True:
            time.sleep(10.0 / scale)
            info = session.get(f"{base}/open/prj_info", params={"project_id": data["prj_id"]},
                               timeout=30).json()["data"]
            calls["get"] += 1
            if info["status"] in (4, 5):
                break
    return calls
