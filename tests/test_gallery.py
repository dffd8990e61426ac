"""`outputs --output html`: a page with a card per video, checked in a real headless browser.

Debian's `chromium` loads the page (`--dump-dom`), every card and every video source is
checked, and a screenshot is taken. A second page plays the sandbox's video and writes its
duration into the DOM once the browser has read the file's metadata: the video is real.
Without chromium the tests skip, except under CI=true where they fail (.ci/run installs it).
"""

from __future__ import annotations

import html.parser
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
from urllib.parse import unquote, urlsplit

import pytest

from jogg_flow.sandbox import Fault, media
from tests.conftest import FAKE_KEY

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MANIFEST = """
version: 1
products:
  - key: blender
    url: https://shop.example/blender
    tags: [kitchen]
  - key: kettle
    url: https://shop.example/kettle
    tags: [kitchen, gift]
  - key: lamp
    url: https://shop.example/lamp
"""


def _chromium(*args: str) -> str:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser tests: chromium is missing (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


class _Dom(html.parser.HTMLParser):
    """Cards, video sources and images of a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, str]] = []
        self.sources: list[str] = []
        self.images: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "article":
            self.cards.append({"key": a.get("data-key", ""), "status": a.get("data-status", "")})
        elif tag == "source":
            self.sources.append(a["src"])
        elif tag in ("img",) or (tag == "video" and "poster" in a):
            self.images.append(a.get("src") or a["poster"])
        elif tag == "script":
            self.scripts += 1


def _resolves(src: str, page: pathlib.Path) -> bool:
    parts = urlsplit(src)
    if parts.scheme == "file":
        return pathlib.Path(unquote(parts.path)).is_file()
    if parts.scheme in ("http", "https"):
        import requests

        return requests.get(src, timeout=10).status_code == 200
    return (page.parent / unquote(src)).is_file()


@pytest.fixture
def made(run, write, sandbox, tmp_path):
    """A manifest applied with --download: two videos made, one failed render."""
    manifest = write("m.yaml", MANIFEST)
    sandbox.add_fault(Fault("render_fail", "POST /open/project/render", 1))
    env = {"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": sandbox.url}
    result = run("apply", manifest, "--download", str(tmp_path / "media"), "--poll-interval", "0.1",
                 "--poll-max", "0.2", "-q", env=env)
    assert result.exit_code == 1, result.output  # the failed render
    return manifest, env


def test_the_gallery_has_a_card_per_video_and_every_video_plays_from_its_file(made, run, tmp_path):
    manifest, env = made
    page = tmp_path / "site" / "gallery.html"
    page.parent.mkdir()
    result = run("outputs", manifest, "--output", "html", "--out", str(page), "--media", str(tmp_path / "media"),
                 env=env)
    assert result.exit_code == 0, result.output
    dom = _Dom()
    dom.feed(_chromium("--dump-dom", page.as_uri()))
    assert sorted(c["key"] for c in dom.cards) == ["blender", "kettle", "lamp"]
    statuses = sorted(c["status"] for c in dom.cards)
    assert statuses == ["failed", "succeeded", "succeeded"]
    assert len(dom.sources) == 2 and dom.scripts == 0  # one playable video per succeeded video
    for src in dom.sources + dom.images:
        assert not src.startswith("http"), src  # the local --download files, usable offline
        assert _resolves(src, page), src
    text = page.read_text()
    assert "render failed" in text or "failed" in text
    shot = tmp_path / "gallery.png"
    _chromium(f"--screenshot={shot}", "--window-size=1200,900", "--virtual-time-budget=3000", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_downloads_the_page_points_at_the_urls(made, run, tmp_path):
    manifest, env = made
    result = run("outputs", manifest, "--output", "html", env=env)
    assert result.exit_code == 0
    page = tmp_path / "remote.html"
    page.write_text(result.stdout)
    dom = _Dom()
    dom.feed(_chromium("--dump-dom", page.as_uri()))
    assert len(dom.cards) == 3 and len(dom.sources) == 2
    assert all(src.startswith("http://127.0.0.1:") and _resolves(src, page) for src in dom.sources)


def test_a_tampered_state_is_escaped_and_only_http_becomes_a_link(run, write, tmp_path):
    manifest = write("m.yaml", MANIFEST)
    state = tmp_path / "s.json"
    evil = {"status": "succeeded", "project_id": "<b>p</b>",
            "outputs": {"video_url": "javascript:alert(1)", "cover_url": "https://x.example/c.png\"><script>",
                        "duration": 3},
            "downloads": {"video": {"file": "../../etc/passwd", "bytes": 1}}}
    failed = {"status": "failed", "error": "<img src=x onerror=alert(1)>", "project_id": "q"}
    state.write_text(json.dumps({"format_version": 1, "serial": 1, "lineage": "x",
                                 "videos": {"blender": evil, "kettle": failed}}))
    result = run("outputs", manifest, "--state", str(state), "--output", "html", "--media", str(tmp_path))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "javascript:" not in text and "<script>" not in text and "<b>p</b>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "etc/passwd" not in text
    dom = _Dom()
    dom.feed(text)
    assert dom.sources == [] and dom.scripts == 0


def test_the_sandbox_video_really_plays(tmp_path):
    (tmp_path / "v.mp4").write_bytes(media.mp4())
    (tmp_path / "c.png").write_bytes(media.png())
    probe = tmp_path / "probe.html"
    probe.write_text(
        '<!doctype html><video id="v" src="v.mp4" muted></video><img id="c" src="c.png">'
        '<p id="out">none</p><script>const v=document.getElementById("v");'
        'v.addEventListener("loadedmetadata",()=>{document.getElementById("out").textContent='
        '"duration="+v.duration+" size="+v.videoWidth+"x"+v.videoHeight;});'
        'v.addEventListener("error",()=>{document.getElementById("out").textContent="error";});'
        'window.addEventListener("load",()=>{const c=document.getElementById("c");'
        'document.body.dataset.cover=c.naturalWidth+"x"+c.naturalHeight;});</script>')
    dom = _chromium("--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    assert "duration=3 size=320x568" in dom, dom[-500:]
    assert 'data-cover="320x568"' in dom


def test_sandbox_apply_keeps_its_media_and_says_where(run, write, tmp_path):
    manifest = write("m.yaml", MANIFEST)
    result = run("apply", manifest, "--sandbox", "-q")
    assert result.exit_code == 0, result.output
    folder = tmp_path / ".jogg-flow" / "sandbox-media"
    assert (folder / "kettle.mp4").read_bytes() == media.mp4()
    assert (folder / "kettle.cover.png").read_bytes() == media.png()
    assert result.stdout.splitlines()[-1].startswith("videos in ")
    assert "--output html" in result.stdout.splitlines()[-1]
    shutil.rmtree(folder)  # a rerun with nothing to do (its API gone long ago) puts them back
    again = run("apply", manifest, "--sandbox", "-q")
    assert again.exit_code == 0, again.output
    assert (folder / "kettle.mp4").read_bytes() == media.mp4()
    page = tmp_path / "gallery.html"
    assert run("outputs", manifest, "--sandbox", "--output", "html", "--out", str(page)).exit_code == 0
    dom = _Dom()
    dom.feed(page.read_text())
    assert dom.sources == [".jogg-flow/sandbox-media/blender.mp4", ".jogg-flow/sandbox-media/kettle.mp4",
                           ".jogg-flow/sandbox-media/lamp.mp4"]
