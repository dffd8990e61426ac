"""JoggAI's current API (v2: host `https://api.jogg.ai`, paths `/v2/...`).

The manifest speaks the original flow's names; this module maps them to v2's nested body:
`video_spec`, `avatar`, `voice`, `audio`, `script`, `visual_style`. Where JoggAI's v2 docs
disagree with themselves (`video_id` / `product_video_id`, `duration` / `video_duration`,
`completed` / `success`), every documented variant is accepted.
"""

from __future__ import annotations

from typing import Any

from .errors import ServerError
from .generations import ASPECT_NAMES, DEFAULT_ASPECT_RATIO, generation
from .http import HttpClient, PreviewAnswer, ProjectInfo, Sending
from .product import product_body

_STATUS = {"pending": "pending", "queued": "pending", "processing": "processing",
           "completed": "succeeded", "success": "succeeded", "succeeded": "succeeded",
           "failed": "failed", "error": "failed", "cancelled": "failed", "canceled": "failed"}
_FIND_PAGES = 10  # how far back to look for a lost render: 1,000 videos
CATALOG = {"avatars": ("/v2/avatars/public", "avatars"), "voices": ("/v2/voices", "voices"),
           "templates": ("/v2/templates", "templates"),
           "visual-styles": ("/v2/visual_styles", "visual_styles"), "music": ("/v2/musics", "music")}


def video_body(product_id: str, s: dict[str, Any], name: str) -> dict[str, Any]:
    """POST /v2/create_video_from_product from the manifest's render settings.

    JoggAI's v2 OpenAPI (api-reference/v2/openapi-v2.yaml) requires `product_id`,
    `video_spec` (with `length`), `avatar` (with `id`), `voice`, `audio` and `script` (with
    `style` and `language`): each is always sent, `voice` and `audio` as `{}` when the
    manifest chooses no voice or music (every field inside them is optional).
    `video_spec.aspect_ratio` (the one default of every generation: landscape) and
    `avatar.type` (0, public) are always sent too, so nothing depends on a server-side
    default. `visual_style` is v2's own setting; G0's `template_name` is refused by
    validate, never sent in its place.
    """
    spec: dict[str, Any] = {"length": s.get("video_length", "30"), "name": name,
                            "aspect_ratio": ASPECT_NAMES[s.get("aspect_ratio", DEFAULT_ASPECT_RATIO)]}
    if "render_subtitle" in s:
        spec["caption"] = bool(s["render_subtitle"])
    avatar: dict[str, Any] = {"type": s.get("avatar_type", 0)}
    if "avatar_id" in s:
        avatar["id"] = s["avatar_id"]
    # The spec's enum spelling ("Top 3 reasons"); the manifest may write any case or G0's
    # "_stage" suffix.
    style = generation("v2").canonical_style(s.get("script_style", "Discovery"))
    body: dict[str, Any] = {
        "product_id": product_id, "video_spec": spec, "avatar": avatar,
        "voice": {"id": s["voice_id"]} if "voice_id" in s else {},
        "audio": {"music_id": s["music_id"]} if "music_id" in s else {},
        "script": {"style": style, "language": s.get("lang", "english")},
    }
    for name_ in ("visual_style", "override_script"):
        if name_ in s:
            body[name_] = s[name_]
    return body


class V2Client(HttpClient):
    """The product flow on v2's endpoints."""

    version = "v2"

    def __init__(self, base_url: str, api_key: str, **kw: Any) -> None:
        # The documented host is https://api.jogg.ai with paths /v2/...; a base written
        # with the /v2 suffix (as the README once said) must not give /v2/v2/...
        super().__init__(base_url.rstrip("/").removesuffix("/v2"), api_key, **kw)

    def whoami(self) -> str | None:
        """GET /v2/user/whoami: the account's email (or user name)."""
        data = self._call("GET", "/v2/user/whoami")
        if not isinstance(data, dict):
            return None
        who = data.get("email") or data.get("username")
        return str(who) if who else None

    def credits(self) -> float | None:
        """GET /v2/user/remaining_quota."""
        data = self._call("GET", "/v2/user/remaining_quota")
        left = data.get("remaining_quota") if isinstance(data, dict) else None
        return float(left) if isinstance(left, (int, float)) and not isinstance(left, bool) else None

    def create_product(self, url: str) -> tuple[Any, str | None]:
        """POST /v2/product from a page URL; v2 has no project until a video is made."""
        data = self._call("POST", "/v2/product", body={"url": url},
                          read_timeout=self.product_timeout)
        if not isinstance(data, dict) or not data.get("product_id"):
            raise ServerError(f"POST /v2/product answered without product_id: {data!r:.80}")
        return str(data["product_id"]), None

    def update_product(self, product_id: Any, details: dict[str, Any]) -> None:
        """PUT /v2/product: name, description, target_audience, media."""
        self._call("PUT", "/v2/product", body=product_body(product_id, details))

    def submit_render(self, record: dict[str, Any], settings: dict[str, Any],
                      sending: Sending = None) -> str:
        """POST /v2/create_video_from_product; the video id is what we poll."""
        data = self._call("POST", "/v2/create_video_from_product", sending=sending,
                          body=video_body(record["product_id"], settings, record["marker"]))
        video_id = (data or {}).get("video_id") or (data or {}).get("product_video_id")
        if not video_id:
            raise ServerError(f"create_video_from_product answered without video_id: {data!r:.80}")
        return str(video_id)

    def find_render(self, record: dict[str, Any]) -> str | None:
        """Look the video up by its unique name among the newest product videos. A render
        this record replaced (one made from another preview of the same request carries the
        same name) is not it."""
        return self._search(record)[0]

    def evidence(self, record: dict[str, Any]) -> tuple[str | None, str]:
        """The video of its unique name, or none in the whole list of product videos (a
        search that stopped at its page limit, past 1,000 newer videos, says nothing)."""
        found, searched = self._search(record)
        if found is not None or searched is None:
            return found, ""
        return None, f"no video named {record['marker']!r} among JoggAI's {searched} product videos"

    def _search(self, record: dict[str, Any]) -> tuple[str | None, int | None]:
        """(the id of the product video named as the record's render, not one it replaced,
        or None; how many videos were read when the list was read to its end, else None)."""
        marker = record["marker"]
        earlier = {str(h.get("project_id")) for h in record.get("history") or ()
                   if isinstance(h, dict) and h.get("project_id")}
        seen = 0
        for page in range(1, _FIND_PAGES + 1):
            data = self._call("GET", "/v2/product_videos", params={
                "page": page, "page_size": 100, "sort_by": "created_at", "sort_order": "desc"})
            videos = (data or {}).get("videos") or []
            for video in videos:
                found = str(video.get("id") or video.get("video_id") or "")
                if (video.get("title") == marker or video.get("name") == marker) and found \
                        and found not in earlier:
                    return found, seen
            seen += len(videos)
            if len(videos) < 100:
                return None, seen
        return None, None

    def _listed(self, path: str, key: str) -> Any:
        """The items of a v2 list, newest first, up to _FIND_PAGES pages of 100."""
        for page in range(1, _FIND_PAGES + 1):
            data = self._call("GET", path, params={
                "page": page, "page_size": 100, "sort_by": "created_at", "sort_order": "desc"})
            items = (data or {}).get(key) if isinstance(data, dict) else None
            items = items if isinstance(items, list) else []
            yield from (i for i in items if isinstance(i, dict))
            if len(items) < 100:
                return

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        """One page (up to 100) of a v2 list: avatars, voices, templates, visual styles, music."""
        path, key = CATALOG[kind]
        data = self._call("GET", path, params={"page": 1, "page_size": 100})
        items = (data or {}).get(key) or []
        return [i for i in items if isinstance(i, dict)]

    def project_info(self, project_id: str) -> ProjectInfo:
        """GET /v2/product_video/{id}."""
        data = self._call("GET", f"/v2/product_video/{project_id}")
        if not isinstance(data, dict):
            raise ServerError(f"GET /v2/product_video answered without data: {data!r:.80}")
        error = data.get("error")
        err_msg = error.get("message") if isinstance(error, dict) else error
        return ProjectInfo.read(_STATUS.get(str(data.get("status", "")).lower(), "pending"), data, err_msg)

    # -- previews ------------------------------------------------------------------------

    def submit_previews(self, record: dict[str, Any], settings: dict[str, Any],
                        styles: list[str], marker: str, sending: Sending = None) -> list[PreviewAnswer]:
        """POST /v2/create_video_from_product/preview_list: the render body (its own
        `visual_style` left out: `visual_styles` names them) plus `visual_styles`."""
        body = video_body(record["product_id"], {k: v for k, v in settings.items() if k != "visual_style"},
                          marker)
        body["visual_styles"] = list(styles)
        data = self._call("POST", "/v2/create_video_from_product/preview_list", body=body, sending=sending)
        listed = (data or {}).get("previews") if isinstance(data, dict) else None
        if not isinstance(listed, list):
            raise ServerError(f"preview_list answered without previews: {data!r:.80}")
        out = []
        for item in listed:
            if isinstance(item, dict) and isinstance(item.get("visual_style"), str):
                pid = item.get("preview_id")
                err = item.get("err_msg")
                out.append(PreviewAnswer(item["visual_style"], str(pid) if pid else None,
                                         str(err) if err else None))
        return out

    def read_previews(self, ids: set[str]) -> dict[str, ProjectInfo]:
        """GET /v2/product_previews, newest first, until every id in `ids` is seen."""
        out: dict[str, ProjectInfo] = {}
        for item in self._listed("/v2/product_previews", "previews"):
            found = str(item.get("id") or item.get("preview_id") or "")
            if found in ids:
                status = _STATUS.get(str(item.get("status", "")).lower(), "pending")
                out[found] = ProjectInfo.read(status, item, item.get("err_msg") or item.get("error"))
                if len(out) == len(ids):
                    break
        return out

    def find_previews(self, marker: str) -> list[tuple[str, str | None]]:
        """The previews the listing shows under `marker` (the request's video name): (id,
        its visual style where the item names it, as JoggAI's PreviewInfo object does)."""
        out = []
        for item in self._listed("/v2/product_previews", "previews"):
            found = item.get("id") or item.get("preview_id")
            if item.get("title") == marker and found:
                style = item.get("visual_style")
                out.append((str(found), style if isinstance(style, str) and style else None))
        return out

    def render_preview(self, preview_id: str, sending: Sending = None) -> str:
        """POST /v2/create_video_from_product/render_single_preview {preview_id}."""
        data = self._call("POST", "/v2/create_video_from_product/render_single_preview",
                          body={"preview_id": preview_id}, sending=sending)
        video_id = (data or {}).get("video_id") or (data or {}).get("product_video_id")
        if not video_id:
            raise ServerError(f"render_single_preview answered without video_id: {data!r:.80}")
        return str(video_id)
