"""The sandbox's v1 routes (`/v1/...`), with the whoami and quota reads of v1 and v2.

Same backend, clock, budget and faults as the other generations. v1 shares its products with
v2 (the same account's products); its renders are projects with 32-hex ids whose
`status_code` runs 1 start, 2 waiting, 3 processing, 4 success or 5 failed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from . import media
from .backend import LANGS, ApiFailure, Backend, _progress

ACCOUNT = {"username": "sandbox", "email": "sandbox@example.com"}
UNLIMITED = 1_000_000  # remaining_quota reported when the sandbox counts no credits
STYLES_V1 = {s.lower() for s in (
    "Don't Worry", "Discovery", "Data", "Top 3 reasons", "Soft Selling", "Humor & Meme",
    "Feature Explainer", "Soft Storytelling with Twist", "Expert Advice", "Unboxing & Review",
    "Challenge", "Problem/Solution", "Comparison", "Creative/Innovative", "Emotional Appeal",
    "Immersive Storytelling")}
_DESC = {1: "start", 2: "waiting", 3: "processing", 4: "success", 5: "failed"}


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# POST /v1/create_video_from_url: the documented required fields, then the optional ones.
REQUIRED: dict[str, Callable[[Any], bool]] = {
    "product_id": lambda v: isinstance(v, str) and bool(v),
    "aspect_ratio": lambda v: _int(v) and v in (0, 1, 2),
    "video_length": lambda v: v in ("15", "30", "60"),
    "language": lambda v: v in LANGS,
    "avatar_id": lambda v: _int(v) and v >= 0,
    "avatar_type": lambda v: _int(v) and v in (0, 1),
    "template_type": lambda v: v in ("public", "custom"),
    "script_style": lambda v: isinstance(v, str) and v.lower().removesuffix("_stage") in STYLES_V1,
}
OPTIONAL: dict[str, Callable[[Any], bool]] = {
    "voice_id": lambda v: isinstance(v, str), "music_id": lambda v: _int(v) and v >= 0,
    "visual_style": lambda v: isinstance(v, str), "template_id": lambda v: _int(v) and v >= 0,
    "override_script": lambda v: isinstance(v, str), "caption": lambda v: isinstance(v, bool),
    "video_name": lambda v: isinstance(v, str),
}


def check_video(body: dict[str, Any]) -> None:
    """40000 "Parameter error: <field> ..." for the first field v1 would refuse."""
    for name, ok in REQUIRED.items():
        if name not in body:
            raise ApiFailure(40000, f"Parameter error: {name} is required")
        if not ok(body[name]):
            raise ApiFailure(40000, f"Parameter error: {name} is invalid")
    for name, ok in OPTIONAL.items():
        if name in body and not ok(body[name]):
            raise ApiFailure(40000, f"Parameter error: {name} is invalid")


def create_video(backend: Backend, body: dict[str, Any], fault: str | None) -> dict[str, Any]:
    """Accept a render of a product: a new project, charged one credit."""
    check_video(body)
    with backend.lock:
        product_id = body["product_id"]
        if product_id not in backend.v2_products:
            raise ApiFailure(10104)
        backend.charge()
        project_id = uuid.uuid4().hex
        name = body.get("video_name") or ""
        backend.v1_projects[project_id] = {
            "product_id": product_id, "title": name, "rendered_at": backend.now(),
            "created_at": int(time.time()), "settings": body,
            "fails": fault == "render_fail" or backend.rng.random() < backend.config.fail_rate}
        backend.count_render(project_id, product_id, name)
        backend.changed("v1_projects", project_id)
    return {"project_id": project_id}


def project(backend: Backend, project_id: str, base: str) -> dict[str, Any]:
    """GET /v1/project: status_code, status_desc and, when done, the outputs."""
    if not project_id:
        raise ApiFailure(40000, "Parameter error: project_id is required")
    with backend.lock:
        prj = backend.v1_projects.get(project_id)
        if prj is None:
            raise ApiFailure(10104)
    code, _, err = _progress(prj, backend.now(), backend.config.render_seconds, backend.config.start_seconds)
    out: dict[str, Any] = {"id": project_id, "title": prj["title"], "status_code": code,
                           "status_desc": _DESC[code], "created_at": prj["created_at"],
                           "video_url": "", "cover_url": "", "video_duration": 0}
    if code == 4:
        out.update(video_url=f"{base}/files/{project_id}.mp4", cover_url=f"{base}/files/{project_id}.png",
                   video_duration=media.VIDEO_SECONDS)
    if code == 5:
        out["err_msg"] = err
    return out


def account(backend: Backend, route: str) -> dict[str, Any]:
    """GET /v1/whoami, /v2/user/whoami and /v2/user/remaining_quota."""
    if route.endswith("remaining_quota"):
        with backend.lock:
            left = backend.credits
        return {"remaining_quota": UNLIMITED if left is None else left}
    return dict(ACCOUNT)
