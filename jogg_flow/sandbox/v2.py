"""The sandbox's v2 routes (`/v2/...`) and the catalog lists of every generation.

Same backend, clock, budget and faults as the `/open` routes; v2 answers say "Success",
use string product and video ids and string statuses (pending, processing, completed,
failed), and have no progress figure.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

from . import contract, media
from .backend import LANGS, ApiFailure, Backend, _progress

AVATARS = [{"id": 37, "name": "Ava", "cover_url": "", "aspect_ratio": 0, "style": "professional",
            "gender": "female", "age": "adult"},
           {"id": 52, "name": "Leo", "cover_url": "", "aspect_ratio": 1, "style": "social",
            "gender": "male", "age": "young_adult"}]
VOICES = [{"name": "Christopher", "voice_id": "en-US-ChristopherNeural", "language": "english",
           "gender": "male", "age": "middle_aged", "audio_url": ""},
          {"name": "Elvira", "voice_id": "es-ES-ElviraNeural", "language": "spanish",
           "gender": "female", "age": "young", "audio_url": ""}]
TEMPLATES = [{"id": 149, "name": "Product Showcase", "cover_url": "", "preview_url": "", "aspect_ratio": 0},
             {"id": 143, "name": "Card Stacking", "cover_url": "", "preview_url": "", "aspect_ratio": 0}]
VISUAL_STYLES = [{"id": 2400, "name": "Simple split screen template"},
                 {"id": 2401, "name": "Simple Product Switch"}, {"id": 2402, "name": "Dynamic Showcase"}]
MUSIC = [{"id": 7, "name": "Upbeat Morning", "music_url": "", "duration": 95}]


def _bad(name: str) -> Exception:
    return ApiFailure(40000, f"Parameter error: {name}")


def create_product(backend: Backend, body: dict[str, Any]) -> dict[str, Any]:
    contract.check(body, contract.PRODUCT)
    url, name = body.get("url"), body.get("name")
    if not url and not name:
        raise _bad("url or name is required")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise _bad("url is invalid")
    with backend.lock:
        product_id = base64.b64encode(str(5441936 + len(backend.v2_products)).encode()).decode().rstrip("=")
        product = {"product_id": product_id, "url": url or "", "name": name or f"Product from {url}",
                   "description": body.get("description") or f"Sandbox description of {url}",
                   "target_audience": body.get("target_audience") or "everyone",
                   "media": body.get("media") or [{"type": 1, "name": "1.png", "url": "",
                                                   "description": "front"}]}
        backend.v2_products[product_id] = product
        backend.counters["products_created"] += 1
        backend.changed("v2_products", product_id)
    return dict(product)


def update_product(backend: Backend, body: dict[str, Any]) -> None:
    contract.check(body, contract.PRODUCT_UPDATE)
    with backend.lock:
        product = backend.v2_products.get(str(body.get("product_id")))
        if product is None:
            raise ApiFailure(10104)
        product.update({k: body[k] for k in ("name", "description", "target_audience", "media") if k in body})
        backend.counters["products_updated"] += 1
        backend.changed("v2_products", str(body.get("product_id")))


def create_video(backend: Backend, body: dict[str, Any], fault: str | None) -> dict[str, Any]:
    contract.check(body, contract.V2_RENDER)
    spec, script = body["video_spec"], body["script"]
    if script.get("language") not in LANGS:
        raise _bad("script.language is invalid")
    with backend.lock:
        product_id = str(body.get("product_id"))
        if product_id not in backend.v2_products:
            raise ApiFailure(10104)
        backend.charge()
        video_id = uuid.uuid4().hex
        backend.v2_videos[video_id] = {
            "product_id": product_id, "title": spec.get("name") or "", "rendered_at": backend.now(),
            "created_at": int(time.time()), "settings": body,
            "fails": fault == "render_fail" or backend.rng.random() < backend.config.fail_rate}
        backend.count_render(video_id, product_id, str(spec.get("name") or ""))
        backend.changed("v2_videos", video_id)
    return {"video_id": video_id, "status": "processing"}


def product_video(backend: Backend, video_id: str, base: str) -> dict[str, Any]:
    with backend.lock:
        video = backend.v2_videos.get(video_id)
        if video is None:
            raise ApiFailure(10104)
    cfg = backend.config
    code, _, err = _progress(video, backend.now(), cfg.render_seconds, cfg.start_seconds)
    status = {1: "pending", 2: "pending", 3: "processing", 4: "completed", 5: "failed"}[code]
    out: dict[str, Any] = {"id": video_id, "video_id": video_id, "title": video["title"],
                           "status": status, "created_at": video["created_at"], "deducted_credit": 1.0}
    if status == "completed":
        out.update(video_url=f"{base}/files/{video_id}.mp4", cover_url=f"{base}/files/{video_id}.png",
                   duration=float(media.VIDEO_SECONDS), video_duration=float(media.VIDEO_SECONDS))
    if status == "failed":
        out["error"] = {"code": 50000, "message": err}
    return out


def product_videos(backend: Backend, query: dict[str, list[str]], base: str) -> dict[str, Any]:
    page = int((query.get("page") or ["1"])[0])
    size = min(100, int((query.get("page_size") or ["10"])[0]))
    with backend.lock:
        ids = list(reversed(backend.v2_videos))  # newest first: insertion order is creation order
    items = []
    for video_id in ids[(page - 1) * size: page * size]:
        full = product_video(backend, video_id, base)
        items.append({k: full.get(k) for k in ("id", "title", "video_duration", "video_url",
                                               "cover_url", "status", "created_at")})
    return {"videos": items, "total": len(ids), "page": page, "page_size": size}


def catalog(path: str) -> Any:
    """The list routes of both generations; None when `path` is not one."""
    lists: dict[str, Any] = {
        "/open/avatar": {"avatars": [{k: a[k] for k in ("id", "name", "cover_url")} for a in AVATARS]},
        "/open/timbre": {"total": len(VOICES), "timbres": [
            {"name": v["name"], "lang_id": v["voice_id"], "audition_url": "", "language": v["language"]}
            for v in VOICES]},
        "/v2/avatars/public": {"avatars": AVATARS},
        "/v2/voices": {"voices": VOICES, "has_more": False},
        "/v2/templates": {"templates": TEMPLATES},
        "/v2/visual_styles": {"visual_styles": VISUAL_STYLES},
        "/v2/musics": {"music": MUSIC, "pagination": {"page": 1, "page_size": 10, "total_items": 1,
                                                      "total_pages": 1}},
        "/v1/avatars": {"avatars": [{"avatar_id": a["id"], **{k: v for k, v in a.items() if k != "id"}}
                                    for a in AVATARS]},
        "/v1/voices": {"total": len(VOICES), "voices": [
            {"audition_url": v["audio_url"], **{k: x for k, x in v.items() if k != "audio_url"}}
            for v in VOICES]},
        "/v1/templates": {"templates": TEMPLATES},
        "/v1/visual_styles": {"visual_styles": VISUAL_STYLES},
        "/v1/musics": {"avatars": MUSIC},  # sic: v1's spec files its music list under "avatars"
    }
    return lists.get(path)
