"""The sandbox's v2 previews: several visual styles of a video from one POST, each a short
clip, and a full render made from the one chosen.

`POST /v2/create_video_from_product/preview_list` takes the render body plus `visual_styles`
and answers `previews[{visual_style, preview_id, err_msg}]`; `GET /v2/product_previews` lists
them (`id, title, video_duration, video_url, cover_url, status, created_at`, newest first);
`POST /v2/create_video_from_product/render_single_preview {preview_id}` answers `video_id`,
polled like any product video (JoggAI-Tech/docs, api-reference/v2/openapi-v2.yaml). A
preview costs 0.5 credit and takes about half a render's time (JoggAI: "2-3 minutes").
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from . import contract, media
from .backend import LANGS, ApiFailure, Backend, _progress
from .v2 import VISUAL_STYLES

PREVIEW_CREDIT = 0.5
_KNOWN = {str(s["name"]).lower() for s in VISUAL_STYLES}


def preview_list(backend: Backend, body: dict[str, Any], fault: str | None) -> dict[str, Any]:
    contract.check(body, contract.V2_PREVIEW_LIST)
    styles = body["visual_styles"]
    language = body["script"].get("language", body.get("language"))
    if language not in LANGS:
        raise ApiFailure(40000, "Parameter error: script.language is invalid")
    out = []
    with backend.lock:
        product_id = str(body["product_id"])
        if product_id not in backend.v2_products:
            raise ApiFailure(10104)
        known = [s for s in styles if s.lower() in _KNOWN]
        if backend.credits is not None and backend.credits < PREVIEW_CREDIT * len(known):
            raise ApiFailure(18020)
        title = str(body["video_spec"].get("name") or "")
        for style in styles:
            if style.lower() not in _KNOWN:
                out.append({"visual_style": style, "preview_id": "",
                            "err_msg": f"visual style '{style}' not found"})
                continue
            if backend.credits is not None:
                backend.credits -= PREVIEW_CREDIT
            preview_id = uuid.uuid4().hex
            settings = {k: v for k, v in body.items() if k != "visual_styles"}
            backend.v2_previews[preview_id] = {
                "product_id": product_id, "title": title, "style": style, "settings": {
                    **settings, "visual_style": style}, "rendered_at": backend.now(),
                "created_at": int(time.time()),
                "fails": fault == "render_fail" or backend.rng.random() < backend.config.fail_rate}
            backend.counters["previews_made"] += 1
            backend.changed("v2_previews", preview_id)
            out.append({"visual_style": style, "preview_id": preview_id, "err_msg": ""})
    return {"previews": out}


def product_preview(backend: Backend, preview_id: str, base: str) -> dict[str, Any]:
    """One preview as the listing shows it."""
    with backend.lock:
        preview = backend.v2_previews.get(preview_id)
        if preview is None:
            raise ApiFailure(10104)
    cfg = backend.config
    code, _, _ = _progress(preview, backend.now(), cfg.render_seconds / 2, cfg.start_seconds)
    status = {1: "processing", 2: "processing", 3: "processing", 4: "completed", 5: "failed"}[code]
    # The list's documented item, with the style and id JoggAI's PreviewInfo object names
    # (openapi-v2.yaml, components.schemas.PreviewInfo: preview_id, visual_style, ...).
    out: dict[str, Any] = {"id": preview_id, "preview_id": preview_id, "visual_style": preview["style"],
                           "title": preview["title"], "status": status,
                           "created_at": preview["created_at"], "video_duration": 0}
    if status == "completed":
        out.update(video_url=f"{base}/files/{preview_id}.mp4", cover_url=f"{base}/files/{preview_id}.png",
                   video_duration=float(media.VIDEO_SECONDS))
    return out


def product_previews(backend: Backend, query: dict[str, list[str]], base: str) -> dict[str, Any]:
    page = max(1, int((query.get("page") or ["1"])[0]))
    size = max(1, min(100, int((query.get("page_size") or ["10"])[0])))
    with backend.lock:
        ids = list(reversed(backend.v2_previews))  # newest first: insertion order is creation order
    items = [product_preview(backend, i, base) for i in ids[(page - 1) * size: page * size]]
    return {"previews": items, "total": len(ids), "page": page, "page_size": size}


def render_single_preview(backend: Backend, body: dict[str, Any], fault: str | None) -> dict[str, Any]:
    contract.check(body, contract.V2_RENDER_PREVIEW)
    with backend.lock:
        preview = backend.v2_previews.get(str(body["preview_id"]))
        if preview is None:
            raise ApiFailure(10104)
    code, _, _ = _progress(preview, backend.now(), backend.config.render_seconds / 2,
                           backend.config.start_seconds)
    if code != 4:
        raise ApiFailure(40000, "Parameter error: preview_id is not a finished preview")
    with backend.lock:
        backend.charge()
        video_id = uuid.uuid4().hex
        backend.v2_videos[video_id] = {
            "product_id": preview["product_id"], "title": preview["title"], "rendered_at": backend.now(),
            "created_at": int(time.time()), "settings": preview["settings"],
            "from_preview": str(body["preview_id"]),
            "fails": fault == "render_fail" or backend.rng.random() < backend.config.fail_rate}
        backend.count_render(video_id, preview["product_id"], preview["title"])
        backend.counters["renders_from_previews"] += 1
        backend.changed("v2_videos", video_id)
    return {"video_id": video_id, "status": "processing"}
