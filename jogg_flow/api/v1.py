"""JoggAI's v1 API (host `https://api.jogg.ai`, paths `/v1/...`): what JoggAI's own n8n node,
Pipedream and Activepieces call.

The manifest speaks the original flow's names; this module maps them to the flat body of
`POST /v1/create_video_from_url`. A v1 product is reusable: a product's variants can share it.
"""

from __future__ import annotations

from typing import Any

from .errors import ServerError
from .generations import DEFAULT_ASPECT_RATIO, generation
from .http import HttpClient, ProjectInfo, Sending
from .product import product_body

# status_code: 1 start, 2 waiting, 3 processing, 4 success, 5 failed, 99 deleted. A v1
# project exists only once a render was asked for, so even 1 means the render was accepted.
STATUS = {1: "pending", 2: "pending", 3: "processing", 4: "succeeded", 5: "failed", 99: "failed"}
_TEMPLATE_TYPE = {"common": "public", "user": "custom", "public": "public", "custom": "custom"}
_OPTIONAL = ("voice_id", "music_id", "override_script", "visual_style", "template_id")
# kind -> (path, the keys its list may come under: the spec files v1's music under "avatars")
CATALOG = {"avatars": ("/v1/avatars", ("avatars",)), "voices": ("/v1/voices", ("voices",)),
           "templates": ("/v1/templates", ("templates",)),
           "visual-styles": ("/v1/visual_styles", ("visual_styles",)),
           "music": ("/v1/musics", ("musics", "music", "avatars"))}


def script_style(value: Any) -> str:
    """v1's spelling of a script style: `Discovery_stage` -> `Discovery`, case as documented."""
    return generation("v1").canonical_style(value)


def video_body(product_id: Any, s: dict[str, Any], name: str) -> dict[str, Any]:
    """POST /v1/create_video_from_url from the manifest's normalised render settings.

    `template_name` and `index_template_name` (the `/open` flow's AI and library templates)
    have no v1 field and are not sent. v1 renders "With Visual Style" (`visual_style`) or
    "With Template" (`template_id`, with `template_type`): each is sent as the manifest gives
    it, never replaced; validate refuses a video that sets both (`generations.Exclusive`).
    """
    body: dict[str, Any] = {
        "product_id": product_id,
        "aspect_ratio": s.get("aspect_ratio", DEFAULT_ASPECT_RATIO),
        "video_length": str(s.get("video_length", "30")),
        "language": s.get("lang", "english"),
        "avatar_type": s.get("avatar_type", 0),
        "template_type": _TEMPLATE_TYPE.get(str(s.get("template_type", "public")), "public"),
        "script_style": script_style(s.get("script_style", "Soft Selling")),
    }
    if "avatar_id" in s:  # required by v1; without it JoggAI answers 40000, as it should
        body["avatar_id"] = s["avatar_id"]
    body.update({k: s[k] for k in _OPTIONAL if k in s})
    if "render_subtitle" in s:
        body["caption"] = bool(s["render_subtitle"])
    body["video_name"] = name
    return body


class V1Client(HttpClient):
    """The product flow on v1's endpoints."""

    version = "v1"

    def __init__(self, base_url: str, api_key: str, **kw: Any) -> None:
        super().__init__(base_url, api_key, **kw)
        # The docs give the base as https://api.jogg.ai/v1; paths here carry /v1 themselves.
        self.base_url = self.base_url.removesuffix("/v1")

    def create_product(self, url: str) -> tuple[Any, str | None]:
        """POST /v1/product from a page URL; v1 has no project until a video is asked for."""
        data = self._call("POST", "/v1/product", body={"url": url},
                          read_timeout=self.product_timeout)
        if not isinstance(data, dict) or not data.get("product_id"):
            raise ServerError(f"POST /v1/product answered without product_id: {data!r:.80}")
        return str(data["product_id"]), None

    def update_product(self, product_id: Any, details: dict[str, Any]) -> None:
        """PUT /v1/product: name, description, target_audience, media."""
        self._call("PUT", "/v1/product", body=product_body(product_id, details))

    def submit_render(self, record: dict[str, Any], settings: dict[str, Any],
                      sending: Sending = None) -> str:
        """POST /v1/create_video_from_url; the project id it answers is what we poll."""
        data = self._call("POST", "/v1/create_video_from_url", sending=sending,
                          body=video_body(record["product_id"], settings, record["marker"]))
        project_id = (data or {}).get("project_id") if isinstance(data, dict) else None
        if project_id is None or project_id == "" or isinstance(project_id, bool):
            raise ServerError(f"create_video_from_url answered without project_id: {data!r:.80}")
        return str(project_id)  # a 32-hex string in the examples, an integer in the spec

    def find_render(self, record: dict[str, Any]) -> str | None:
        """After a render POST with no answer: always None, because v1 offers no evidence.

        v1 documents no list of projects or videos: `GET /v1/project` needs the project id
        that only the lost answer carried, and `GET /v1/products` lists products, not
        their renders. The `video_name` we sent (the record's marker) shows in the dashboard
        and in webhook deliveries, not in any listing we can query. So the render may or may
        not have been accepted, and only the user can tell; sending it again could pay twice.
        """
        return None

    def project_info(self, project_id: str) -> ProjectInfo:
        """GET /v1/project?project_id=: status_code, and when done, the outputs."""
        data = self._call("GET", "/v1/project", params={"project_id": project_id})
        if not isinstance(data, dict):
            raise ServerError(f"GET /v1/project answered without data: {data!r:.80}")
        raw = data.get("status_code")
        status = STATUS.get(raw, "pending") if isinstance(raw, int) else "pending"
        err = data.get("err_msg") or (data.get("status_desc") if status == "failed" else None)
        return ProjectInfo.read(status, data, err)

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        """A v1 list: avatars, voices, templates, visual styles, music."""
        path, keys = CATALOG[kind]
        data = self._call("GET", path, params={"page": 1, "page_size": 100} if kind == "voices" else None)
        items: Any = []
        if isinstance(data, dict):
            items = next((data[k] for k in keys if isinstance(data.get(k), list)), [])
        return [i for i in items if isinstance(i, dict)]

    def whoami(self) -> str | None:
        """GET /v1/whoami (JoggAI's n8n credential test): the account's email or username."""
        data = self._call("GET", "/v1/whoami")
        if not isinstance(data, dict):
            return None
        who = data.get("email") or data.get("username") or data.get("name")
        return str(who) if who else None
