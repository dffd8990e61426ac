"""Local media: files named in `details.intro_medias` are checked at validate and
uploaded once per content at apply, through the generation's upload POST and a PUT of the
bytes to the signed URL that carries no API key; the product gets the hosted URL.

Against the sandbox (v1, v2, open), and against an independent stand-in written here from
JoggAI's upload docs (v1 and v2), which records exactly what arrived."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import threading
import uuid
from typing import Any

import pytest
import requests

from jogg_flow.sandbox import Fault, Sandbox, media
from tests.conftest import FAKE_KEY
from tests.scripted import Reply, Request, Scripted, envelope

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = media.png(8, 8)
ROUTES = {"v1": "POST /v1/upload/asset", "v2": "POST /v2/upload/asset", "open": "POST /open/upload/sign"}
HEAD = {"v1": "api: {version: v1}\n", "v2": "api: {version: v2}\n", "open": ""}


def manifest_text(version: str, products: str) -> str:
    return (f"version: 1\n{HEAD[version]}defaults:\n  render: {{avatar_id: 37, aspect_ratio: '9:16'}}\n"
            f"products:\n{products}")


TWO = """\
  - key: blender
    url: https://shop.example/blender
    details:
      intro_medias:
        - media/front.jpg
        - {file: media/side.png, description: Side view}
        - https://cdn.example.com/box.jpg
    variants:
      - name: tiktok
      - name: wide
        render: {aspect_ratio: '16:9'}
  - key: kettle
    url: https://shop.example/kettle
    details:
      intro_medias: [media/front.jpg]
"""


@pytest.fixture
def shop(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "front.jpg").write_bytes(JPEG)
    (tmp_path / "media" / "side.png").write_bytes(PNG)
    return tmp_path


@pytest.fixture
def env(sandbox):
    return {"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": sandbox.url}


@pytest.fixture
def apply(run, env, shop):
    def _apply(manifest: str, *extra: str, base: str | None = None):
        args = ["apply", manifest, "--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.3",
                "--output", "json", "--state", str(shop / "state.json"), *extra]
        if base:
            args += ["--api-base", base]
        result = run(*args, env=env if base is None else {**env, "JOGG_API_BASE": base})
        events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        return result, events
    return _apply


def products(sandbox: Sandbox, version: str) -> list[dict[str, Any]]:
    if version == "open":
        return [{"media": p["intro_medias"], **p} for p in sandbox.backend.products.values()]
    return list(sandbox.backend.v2_products.values())


def statuses(events):
    return {e["key"]: e["status"] for e in events if e["event"] == "video"}


# -- at validate ------------------------------------------------------------------------------


def refused(run, path: str) -> list[str]:
    result = run("validate", path)
    assert result.exit_code == 3 and "Traceback" not in result.stderr, result.stderr
    lines: list[str] = result.stderr.strip().splitlines()
    return lines


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="symlinks")
def test_a_path_out_of_the_manifests_folder_is_refused_at_its_line(run, shop, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    (outside / "secret.jpg").write_bytes(JPEG)
    (shop / "media" / "link.jpg").symlink_to(outside / "secret.jpg")
    (shop / "m.yaml").write_text(manifest_text("v2", f"""\
  - key: a
    url: https://shop.example/a
    details:
      intro_medias:
        - ../{outside.name}/secret.jpg
        - {outside / 'secret.jpg'}
        - media/link.jpg
        - media/front.jpg
"""))
    lines = refused(run, str(shop / "m.yaml"))
    m = shop / "m.yaml"
    assert lines == [
        f"{m}:10:11: ../{outside.name}/secret.jpg: leads outside the manifest's folder; media files "
        "are named relative to the manifest's folder and stay inside it",
        f"{m}:11:11: {outside / 'secret.jpg'}: is an absolute path; media files are named relative "
        "to the manifest's folder and stay inside it",
        f"{m}:12:11: media/link.jpg: leads through a symbolic link outside the manifest's folder; "
        "media files are named relative to the manifest's folder and stay inside it"]


def test_oversize_unsupported_and_mislabelled_files_are_refused_at_validate(run, shop):
    with open(shop / "media" / "huge.png", "wb") as fh:  # sparse: 10 MB and a byte, nothing written
        fh.write(PNG[:16])
        fh.truncate(10 * 2**20 + 1)
    (shop / "media" / "photo.bmp").write_bytes(b"BM" + bytes(64))
    (shop / "media" / "fake.jpg").write_bytes(PNG)
    (shop / "media" / "empty.webp").write_bytes(b"")
    (shop / "m.yaml").write_text(manifest_text("v1", """\
  - key: a
    url: https://shop.example/a
    details:
      intro_medias:
        - media/huge.png
        - media/photo.bmp
        - media/fake.jpg
        - {file: media/front.jpg, type: video}
        - media/missing.mp4
        - media/empty.webp
        - media
"""))
    m = shop / "m.yaml"
    assert refused(run, str(m)) == [
        f"{m}:10:11: media/huge.png: 10.0 MB is over JoggAI's limit of 10 MB for image/png",
        f"{m}:11:11: media/photo.bmp: .bmp is not a type JoggAI takes as media (JPG, PNG, WebP or "
        "GIF images up to 10 MB; MP4, WebM or MOV videos up to 100 MB)",
        f"{m}:12:11: media/fake.jpg: does not hold image/jpeg data, as its extension says",
        f"{m}:13:11: media/front.jpg: is an image, but type says video",
        f"{m}:14:11: media/missing.mp4: cannot read (No such file or directory)",
        f"{m}:15:11: media/empty.webp: is empty",
        f"{m}:16:11: media: has no extension, so it is not a type JoggAI takes as media (JPG, PNG, "
        "WebP or GIF images up to 10 MB; MP4, WebM or MOV videos up to 100 MB)"]


def test_a_clip_over_five_minutes_is_refused_by_the_length_its_header_states(run, shop):
    clip = bytearray(media.mp4())
    at = clip.index(b"mvhd") + 4
    scale = int.from_bytes(clip[at + 12:at + 16], "big")
    clip[at + 16:at + 20] = (301 * scale).to_bytes(4, "big")  # version 0: 32-bit duration
    (shop / "media" / "long.mov").write_bytes(bytes(clip))
    (shop / "media" / "long.webm").write_bytes(webm(301_000.0))
    (shop / "media" / "short.webm").write_bytes(webm(299_000.0))
    (shop / "m.yaml").write_text(manifest_text("v2", """\
  - key: a
    url: https://shop.example/a
    details: {intro_medias: [media/long.mov, media/long.webm, media/short.webm]}
"""))
    m = shop / "m.yaml"
    assert refused(run, str(m)) == [
        f"{m}:8:30: media/long.mov: is 301 s long, over JoggAI's limit of 5 minutes for a clip",
        f"{m}:8:46: media/long.webm: is 301 s long, over JoggAI's limit of 5 minutes for a clip"]


def webm(milliseconds: float) -> bytes:
    """A WebM's head: its EBML header, a Segment of unknown size whose Info says its length
    (TimecodeScale 1 ms, Duration a float), then the start of a Cluster."""
    duration = struct.pack(">d", milliseconds)
    info = bytes.fromhex("2AD7B1830F4240") + bytes.fromhex("4489") + bytes([0x80 | len(duration)]) + duration
    return (bytes.fromhex("1A45DFA380") + bytes.fromhex("18538067") + bytes.fromhex("01FFFFFFFFFFFFFF")
            + bytes.fromhex("1549A966") + bytes([0x80 | len(info)]) + info + bytes.fromhex("1F43B675"))


def test_a_video_up_to_100_mb_passes_and_a_url_with_a_colon_is_still_a_url(run, shop):
    with open(shop / "media" / "clip.mp4", "wb") as fh:  # a real clip padded to 100 MB (sparse)
        fh.write(media.mp4())
        fh.truncate(100 * 2**20)
    (shop / "m.yaml").write_text(manifest_text("v2", """\
  - key: a
    url: https://shop.example/a
    details:
      intro_medias: [media/clip.mp4, "ftp://cdn.example.com/x.jpg"]
"""))
    lines = refused(run, str(shop / "m.yaml"))
    assert len(lines) == 1 and lines[0].startswith(f"{shop / 'm.yaml'}:9:38: ")


def test_a_feed_image_column_may_name_local_files_and_a_bad_one_names_its_row(run, shop):
    (shop / "catalog.csv").write_text("handle,link,images\nblender,https://shop.example/b,media/front.jpg\n"
                                      "kettle,https://shop.example/k,../etc/passwd.jpg\n")
    (shop / "m.yaml").write_text("version: 1\napi: {version: v2}\ndefaults: {render: {avatar_id: 37}}\n"
                                 "products_from:\n  - file: catalog.csv\n    product:\n"
                                 "      key: '{{ row.handle }}'\n      url: '{{ row.link }}'\n"
                                 "      details: {intro_medias: '{{ row.images }}'}\n")
    lines = refused(run, str(shop / "m.yaml"))
    assert len(lines) == 1
    assert lines[0].startswith(f"{shop / 'm.yaml'}:9:") and "../etc/passwd.jpg: leads outside" in lines[0]
    assert f"(row {shop / 'catalog.csv'}:3)" in lines[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_special_files_and_git_folders_are_refused(run, shop):
    os.mkfifo(shop / "media" / "pipe.jpg")  # opening it must not wait for a writer
    (shop / ".git").mkdir()
    (shop / ".git" / "x.png").write_bytes(PNG)
    (shop / "m.yaml").write_text(manifest_text("v2", """\
  - key: a
    url: https://shop.example/a
    details: {intro_medias: [media/pipe.jpg, .git/x.png]}
"""))
    m = shop / "m.yaml"
    assert refused(run, str(m)) == [
        f"{m}:8:30: media/pipe.jpg: is not a regular file (a device, pipe or socket); refused",
        f"{m}:8:46: .git/x.png: is inside a .git folder, not a media file"]


# -- at apply, against the sandbox ----------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2", "open"])
def test_each_file_is_uploaded_once_put_without_the_key_and_the_products_get_its_url(
        version, apply, run, env, shop, sandbox):
    manifest = shop / "m.yaml"
    manifest.write_text(manifest_text(version, TWO))
    plan = run("plan", str(manifest), "--state", str(shop / "state.json"), env=env)
    assert "upload 2 files (free)" in plan.stdout
    result, events = apply(str(manifest))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert set(statuses(events).values()) == {"succeeded"}
    stats = sandbox.stats()
    # Two contents, three products (open) or two (v1/v2, the variants share one): two uploads.
    assert stats["requests"][ROUTES[version]] == 2
    assert stats["uploads_stored"] == 2 and stats.get("upload_puts_with_key", 0) == 0
    assert stats.get("upload_media_unstored", 0) == 0
    hosted = {m["url"] for p in products(sandbox, version) for m in p["media"]}
    assets = {u["asset_url"]: u for u in sandbox.backend.uploads.values()}
    assert set(assets) <= hosted and "https://cdn.example.com/box.jpg" in hosted
    served = {requests.get(url, timeout=5).content for url in assets}
    assert served == {JPEG, PNG}  # the asset URLs serve the bytes: a gallery can show them
    side = [m for p in products(sandbox, version) for m in p["media"] if m.get("name") == "side.png"]
    assert side and all(m["description"] == "Side view" and m["type"] == 1 for m in side)
    state = (shop / "state.json").read_text()
    assert "X-Amz-Signature" not in state and "X-Amz-Signature" not in result.stdout + result.stderr
    assert FAKE_KEY not in state

    before = sandbox.stats()["requests"]
    again, events = apply(str(manifest))
    assert again.exit_code == 0 and sandbox.stats()["requests"] == before  # no call at all
    assert set(statuses(events).values()) == {"up-to-date"}


def test_a_feeds_image_column_naming_local_files_uploads_them_once(apply, shop, sandbox):
    (shop / "catalog.csv").write_text("handle,link,images\n"
                                      "blender,https://shop.example/b,media/front.jpg media/side.png\n"
                                      "kettle,https://shop.example/k,https://cdn.example.com/k.jpg media/front.jpg\n")
    (shop / "m.yaml").write_text("version: 1\napi: {version: v2}\ndefaults: {render: {avatar_id: 37}}\n"
                                 "products_from:\n  - file: catalog.csv\n    product:\n"
                                 "      key: '{{ row.handle }}'\n      url: '{{ row.link }}'\n"
                                 "      details: {intro_medias: '{{ row.images }}'}\n")
    result, events = apply(str(shop / "m.yaml"))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert sandbox.stats()["requests"]["POST /v2/upload/asset"] == 2
    media_of = {p["url"]: [m["url"] for m in p["media"]] for p in sandbox.backend.v2_products.values()}
    front = media_of["https://shop.example/b"][0]
    assert media_of["https://shop.example/k"] == ["https://cdn.example.com/k.jpg", front]


def test_the_same_file_in_a_changed_product_and_a_new_one_is_not_uploaded_again(apply, run, env, shop, sandbox):
    manifest = shop / "m.yaml"
    manifest.write_text(manifest_text("v2", TWO))
    apply(str(manifest))
    manifest.write_text(manifest_text("v2", TWO.replace("shop.example/kettle", "shop.example/kettle-2")
                                      + "  - key: lamp\n    url: https://shop.example/lamp\n"
                                      "    details: {intro_medias: [media/side.png]}\n"))
    plan = run("plan", str(manifest), "--state", str(shop / "state.json"), env=env)
    assert "upload" not in plan.stdout and "4 POSTs" in plan.stdout  # 2 products, 2 renders
    result, _ = apply(str(manifest))
    assert result.exit_code == 0
    assert sandbox.stats()["requests"]["POST /v2/upload/asset"] == 2


def test_a_changed_file_is_a_changed_input_uploaded_anew(apply, run, env, shop, sandbox):
    manifest = shop / "m.yaml"
    manifest.write_text(manifest_text("v2", TWO))
    apply(str(manifest))
    (shop / "media" / "front.jpg").write_bytes(JPEG + b"edited")
    plan = run("plan", str(manifest), "--state", str(shop / "state.json"), "--output", "json", env=env)
    items = {i["key"]: i for i in json.loads(plan.stdout)["items"]}
    assert items["kettle"]["action"] == "replace" and items["kettle"]["changes"] == ["details.intro_medias"]
    assert json.loads(plan.stdout)["estimate"]["uploads"] == 1
    apply(str(manifest))
    assert sandbox.stats()["requests"]["POST /v2/upload/asset"] == 3
    stored = {u["sha256"]: u["asset_url"] for u in sandbox.backend.uploads.values() if u["stored"]}
    new = stored[hashlib.sha256(JPEG + b"edited").hexdigest()]
    kettles = [p for p in sandbox.backend.v2_products.values() if p["url"] == "https://shop.example/kettle"]
    assert len(kettles) == 2 and [m["url"] for m in kettles[-1]["media"]] == [new]  # a fresh product


def test_a_moved_file_changes_nothing_sent_and_needs_no_new_video(apply, run, env, shop, sandbox):
    manifest = shop / "m.yaml"
    manifest.write_text(manifest_text("v2", TWO))
    apply(str(manifest))
    assert "media/" not in json.dumps(json.loads((shop / "state.json").read_text())["videos"])
    (shop / "pictures").mkdir()
    os.replace(shop / "media" / "front.jpg", shop / "pictures" / "front.jpg")
    manifest.write_text(manifest_text("v2", TWO.replace("media/front.jpg", "pictures/front.jpg")))
    plan = run("plan", str(manifest), "--state", str(shop / "state.json"), "--output", "json", env=env)
    assert {i["action"] for i in json.loads(plan.stdout)["items"]} == {"up-to-date"}


def test_a_failing_put_never_gives_the_product_its_url_and_the_next_apply_uploads_afresh(
        apply, shop, sandbox):
    manifest = shop / "m.yaml"
    manifest.write_text(manifest_text("v2", "  - key: a\n    url: https://shop.example/a\n"
                                      "    details: {intro_medias: [media/front.jpg]}\n"))
    sandbox.add_fault(Fault("http_500", route="PUT /_upload/*", times=0))  # the storage is down
    result, events = apply(str(manifest))
    assert result.exit_code == 1 and statuses(events) == {"a": "error"}
    (message,) = [e["message"] for e in events if e["event"] == "video"]
    assert "media/front.jpg" in message and "HTTP 500" in message and "X-Amz" not in message
    stats = sandbox.stats()
    assert stats["products_updated"] == 0 and stats["renders_accepted"] == 0
    assert "uploads" not in json.loads((shop / "state.json").read_text())["videos"]["a"]

    sandbox.backend.faults.clear()
    # The next one: the answer to the upload POST is lost once, the PUT's answer too.
    sandbox.add_fault(Fault("drop_after_commit", route="POST /v2/upload/asset"))
    sandbox.add_fault(Fault("drop_after_commit", route="PUT /_upload/*"))
    result, events = apply(str(manifest))
    assert result.exit_code == 0 and statuses(events) == {"a": "succeeded"}
    stats = sandbox.stats()
    assert stats.get("upload_media_unstored", 0) == 0 and stats["products_updated"] == 1
    (product,) = sandbox.backend.v2_products.values()
    (url,) = [m["url"] for m in product["media"]]
    assert requests.get(url, timeout=5).content == JPEG


def test_a_file_changed_between_validate_and_upload_is_not_sent(shop, sandbox):
    from jogg_flow.api.v2 import V2Client
    from jogg_flow.engine.uploads import Uploads
    from jogg_flow.manifest import load_manifest
    from jogg_flow.state import State

    manifest = shop / "m.yaml"
    manifest.write_text(manifest_text("v2", "  - key: a\n    url: https://shop.example/a\n"
                                      "    details: {intro_medias: [media/front.jpg]}\n"))
    (video,) = load_manifest(str(manifest)).videos
    (shop / "media" / "front.jpg").write_bytes(JPEG + b"!")
    uploads = Uploads(V2Client(sandbox.url, FAKE_KEY), State(str(shop / "s.json")), lambda e: None,
                      str(shop), lambda: None)
    from jogg_flow.api.upload import UploadFailed
    with pytest.raises(UploadFailed, match="changed since the manifest was read"):
        uploads.ready(video, {"key": "a"})
    assert sandbox.stats().get("uploads_signed", 0) == 0


def test_sandbox_storage_refuses_a_key_a_wrong_type_or_size_and_a_bad_signature(sandbox):
    h = {"x-api-key": "k"}
    signed = requests.post(f"{sandbox.url}/v2/upload/asset", headers=h, timeout=5, json={
        "filename": "a.jpg", "content_type": "image/jpeg", "file_size": len(JPEG)}).json()["data"]
    url = signed["sign_url"]
    assert url.startswith(sandbox.url + "/_upload/") and set(signed) == {"sign_url", "asset_url"}
    jpeg = {"Content-Type": "image/jpeg"}
    assert requests.put(url, data=JPEG, headers={**jpeg, "x-api-key": "k"}, timeout=5).status_code == 403
    assert requests.put(url, data=JPEG, headers={"Content-Type": "image/png"}, timeout=5).status_code == 403
    assert requests.put(url, data=JPEG[:10], headers=jpeg, timeout=5).status_code == 400
    assert requests.put(url.replace("Signature=", "Signature=0"), data=JPEG, headers=jpeg,
                        timeout=5).status_code == 403
    assert requests.get(signed["asset_url"], timeout=5).status_code == 404  # nothing stored yet
    assert requests.put(url, data=JPEG, headers=jpeg, timeout=5).status_code == 200
    assert requests.get(signed["asset_url"], timeout=5).content == JPEG
    assert sandbox.stats()["upload_puts_with_key"] == 1
    v1 = requests.post(f"{sandbox.url}/v1/upload/asset", headers=h, timeout=5, json={"filename": "a"}).json()
    assert v1["code"] == 40000 and "extension" in v1["msg"]
    v2 = requests.post(f"{sandbox.url}/v2/upload/asset", headers=h, timeout=5, json={"filename": "a.jpg"}).json()
    assert (v2["code"], v2["msg"]) == (40000, "Parameter error: content_type is required")


# -- the bar: an independent stand-in ---------------------------------------------------------


class StandIn:
    """JoggAI's product flow and upload as its docs describe them, answering one generation,
    with the storage service behind the signed URL on the same loopback server."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.url = ""  # the server's, once it listens
        self.stored: dict[str, bytes] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.renders = 0

    def __call__(self, req: Request) -> Reply:
        v = self.version
        if req.method == "PUT" and req.path.startswith("/storage/"):
            if req.query.get("sig") != ["s3cr3t-sig"]:
                return Reply(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
            self.stored[req.path.rsplit("/", 1)[1]] = req.raw
            return Reply(200, b"")
        if req.method == "GET" and req.path.startswith("/hosted/"):
            data = self.stored.get(req.path.rsplit("/", 1)[1])
            return Reply(200, data) if data is not None else Reply(404, b"")
        if req.method == "POST" and req.path == f"/{v}/upload/asset":
            token = uuid.uuid4().hex
            sign = f"{self.url}/storage/{token}?sig=s3cr3t-sig"
            hosted = f"{self.url}/hosted/{token}"
            return envelope({"sign_url": sign, "asset_url" if v == "v2" else "asset_id": hosted})
        if req.method == "POST" and req.path == f"/{v}/product":
            pid = f"P{len(self.products) + 1}"
            self.products[pid] = {"url": req.body["url"], "media": []}
            return envelope({"product_id": pid})
        if req.method == "PUT" and req.path == f"/{v}/product":
            self.products[req.body["product_id"]].update(media=req.body.get("media", []))
            return envelope()
        if req.method == "POST" and req.path in ("/v2/create_video_from_product", "/v1/create_video_from_url"):
            self.renders += 1
            return envelope({"video_id": f"V{self.renders}"} if v == "v2" else {"project_id": f"V{self.renders}"})
        if req.method == "GET" and (req.path.startswith("/v2/product_video/") or req.path == "/v1/project"):
            done = {"video_url": f"{self.url}/out.mp4", "cover_url": f"{self.url}/out.png", "duration": 3}
            return envelope({"status": "completed", **done} if v == "v2" else {"status_code": 4, **done})
        if req.method == "GET" and req.path in ("/v2/user/whoami", "/v1/whoami"):
            return envelope({"email": "shop@example.com"})
        if req.method == "GET" and req.path == "/v2/user/remaining_quota":
            return envelope({"remaining_quota": 100})
        return envelope(code=10104, msg="Record not found")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_bar_a_local_file_is_put_without_the_key_and_the_product_gets_the_hosted_url(version, shop, run):
    stand_in = StandIn(version)
    with Scripted(stand_in) as server:
        stand_in.url = server.url
        manifest = shop / "m.yaml"
        manifest.write_text(manifest_text(version, TWO))
        env = {"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": server.url}
        args = ["apply", str(manifest), "--post-rate", "20/1s", "--poll-interval", "0.05",
                "--state", str(shop / "state.json"), "--output", "json"]
        result = run(*args, env=env)
        assert result.exit_code == 0, result.stdout + result.stderr
        posts = [r for r in server.log if r.path == f"/{version}/upload/asset"]
        puts = [r for r in server.log if r.method == "PUT" and r.path.startswith("/storage/")]
        assert len(posts) == len(puts) == 2
        if version == "v2":
            assert [p.body for p in posts] == [
                {"filename": "front.jpg", "content_type": "image/jpeg", "file_size": len(JPEG)},
                {"filename": "side.png", "content_type": "image/png", "file_size": len(PNG)}]
            assert [p.headers["Content-Type"] for p in puts] == ["image/jpeg", "image/png"]
        else:
            assert [p.body for p in posts] == [{"filename": "front.jpg"}, {"filename": "side.png"}]
            assert {p.headers["Content-Type"] for p in puts} == {"application/octet-stream"}
        assert all(p.headers.get("x-api-key") == FAKE_KEY for p in posts)
        for put in puts:  # nothing of ours travels to the storage service
            assert not {k.lower() for k in put.headers} & {"x-api-key", "authorization", "cookie"}
            assert FAKE_KEY not in json.dumps(put.headers)
        assert sorted(p.raw for p in puts) == sorted([JPEG, PNG])
        hosted = {f"{server.url}/hosted/{p.path.rsplit('/', 1)[1]}": p.raw for p in puts}
        by_url = {p["url"]: p for p in stand_in.products.values()}  # made in parallel: any order
        blender, kettle = by_url["https://shop.example/blender"], by_url["https://shop.example/kettle"]
        assert [m["url"] for m in blender["media"]][:2] == [u for u, b in hosted.items() if b == JPEG] + \
            [u for u, b in hosted.items() if b == PNG]
        assert [m["url"] for m in kettle["media"]] == [u for u, b in hosted.items() if b == JPEG]
        assert blender["media"][2] == {"type": 1, "name": "box.jpg", "url": "https://cdn.example.com/box.jpg"}
        assert "s3cr3t-sig" not in (shop / "state.json").read_text() + result.stdout + result.stderr

        count = len(server.log)
        again = run(*args, env=env)
        assert again.exit_code == 0 and len(server.log) == count  # a second apply: no call at all


def test_an_upload_url_in_plain_http_to_another_host_is_refused(shop, run):
    stand_in = StandIn("v2")

    def handler(req: Request) -> Reply:
        if req.path == "/v2/upload/asset":
            return envelope({"sign_url": "http://storage.example.com/x?sig=s3cr3t-sig",
                             "asset_url": "https://cdn.example.com/x.jpg"})
        return stand_in(req)

    with Scripted(handler) as server:
        stand_in.url = server.url
        manifest = shop / "m.yaml"
        manifest.write_text(manifest_text("v2", "  - key: a\n    url: https://shop.example/a\n"
                                          "    details: {intro_medias: [media/front.jpg]}\n"))
        result = run("apply", str(manifest), "--state", str(shop / "state.json"), "--post-rate", "20/1s",
                     env={"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": server.url})
        assert result.exit_code == 1
        assert "plain-http upload URL (http://storage.example.com/…)" in result.stdout + result.stderr
        assert "s3cr3t-sig" not in result.stdout + result.stderr
        assert not [r for r in server.log if r.method == "PUT"]  # nothing PUT, no product update


# -- killed mid-upload ------------------------------------------------------------------------


@pytest.mark.parametrize(("held", "done"), [("POST /v2/upload/asset", "uploads_signed"),
                                            ("PUT /_upload/*", "uploads_stored")])
def test_sigkill_while_an_upload_awaits_its_answer_then_the_next_apply_uploads_afresh(held, done, shop, spawn):
    from bench.campaigns import _start
    from jogg_flow.sandbox import Config
    from jogg_flow.state import State

    manifest, state = shop / "m.yaml", str(shop / "state.json")
    manifest.write_text(manifest_text("v2", "  - key: a\n    url: https://shop.example/a\n"
                                      "    details: {intro_medias: [media/front.jpg]}\n"))
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0, slow_seconds=60.0)) as sb:
        sb.add_fault(Fault("slow", route=held))  # the request is carried out, its answer held
        proc = _start(sb.url, str(manifest), state, spawn)
        assert proc.stdout is not None
        for line in proc.stdout:
            if '"step": "upload"' in line:
                break
        for _ in range(600):  # until the sandbox has carried it out (it then holds the answer)
            if sb.stats().get(done):
                break
            threading.Event().wait(0.05)
        proc.kill()
        proc.communicate(timeout=60)
        record = State.load(state).videos["a"]
        assert "uploads" not in record and record["steps"].get("update") != "done"
        final = _start(sb.url, str(manifest), state, spawn)
        _, err = final.communicate(timeout=60)
        assert final.returncode == 0, err
        stats = sb.stats()
        assert stats["uploads_signed"] == 2 and stats.get("upload_media_unstored", 0) == 0
        assert stats["products_updated"] == 1 and stats["renders_accepted"] == 1
        (product,) = sb.backend.v2_products.values()
        (url,) = [m["url"] for m in product["media"]]
        assert requests.get(url, timeout=5).content == JPEG
        assert State.load(state).videos["a"]["uploads"] == {hashlib.sha256(JPEG).hexdigest(): url}


def test_a_sandbox_snapshot_from_before_uploads_is_still_recalled(tmp_path):
    from jogg_flow.sandbox import Config
    from jogg_flow.sandbox import saved as sandbox_saved
    from jogg_flow.sandbox.backend import Backend

    path = tmp_path / "shop.sandbox-api.json"
    old = Backend(Config(time_scale=60.0))
    made = old.create_product({"url": "https://shop.example/kettle"}, "http://127.0.0.1:1")
    snap = old.snapshot()
    del snap["uploads"]  # what a sandbox of the previous release kept
    path.write_text(json.dumps(snap))
    fresh = Backend(Config(time_scale=60.0))
    sandbox_saved.recall(fresh, str(path))
    assert fresh.products[made["id"]]["url"] == "https://shop.example/kettle" and fresh.uploads == {}


def test_a_tampered_state_url_is_never_given_to_a_product(shop, sandbox):
    from jogg_flow.api.v2 import V2Client
    from jogg_flow.engine.uploads import Uploads
    from jogg_flow.errors import StateError
    from jogg_flow.manifest import load_manifest
    from jogg_flow.state import State
    from jogg_flow.state.records import check_record

    manifest = shop / "m.yaml"
    manifest.write_text(manifest_text("v2", "  - key: a\n    url: https://shop.example/a\n"
                                      "    details: {intro_medias: [media/front.jpg]}\n"))
    (video,) = load_manifest(str(manifest)).videos
    sha = hashlib.sha256(JPEG).hexdigest()
    state = State(str(shop / "s.json"))
    state.put("other", {"key": "other", "uploads": {sha: "javascript:alert(1)"}})
    uploads = Uploads(V2Client(sandbox.url, FAKE_KEY), state, lambda e: None, str(shop), lambda: None)
    record: dict[str, Any] = {"key": "a", "uploads": {sha: "https://evil.example/\nx"}}
    sent = uploads.ready(video, record)
    (url,) = [m["url"] for m in sent["intro_medias"]]
    assert url.startswith(sandbox.url + "/assets/") and record["uploads"] == {sha: url}
    assert sandbox.stats()["uploads_stored"] == 1
    with pytest.raises(StateError, match="'uploads' must be an object"):
        check_record("a", {"uploads": ["x"]}, "s.json")


def test_commands_that_need_only_the_manifests_name_read_no_media(run, write):
    """`state list` and `unlock` read the manifest for its name: a media file that is
    missing (or large) is validate's business, not theirs."""
    path = write("m.yaml", manifest_text("v2", "  - key: mug\n    url: https://shop.example/mug\n"
                                               "    details: {intro_medias: [media/missing.jpg]}\n"))
    assert run("validate", path).exit_code == 3
    for command in (("state", "list"), ("unlock",)):
        result = run(*command, path)
        assert result.exit_code == 0, (command, result.stderr)
