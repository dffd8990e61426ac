"""JoggAI's original product flow (`https://api-services.jogg.ai/open/...`, "G0")."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from .errors import ServerError
from .generations import DEFAULT_ASPECT_RATIO
from .http import HttpClient, ProjectInfo, Sending

STATUS = {1: "idle", 2: "pending", 3: "processing", 4: "succeeded", 5: "failed", 99: "failed"}
_CATALOG_OPEN = {"avatars": ("/open/avatar", "avatars"), "voices": ("/open/timbre", "timbres")}


class OpenClient(HttpClient):
    """The four calls of the seed's product flow."""

    version = "open"

    # -- the product flow -------------------------------------------------------------

    def create_product(self, url: str) -> tuple[Any, str | None]:
        """POST /open/product: a product (and its project) from a page URL."""
        data = self._call("POST", "/open/product", body={"url": url},
                          read_timeout=self.product_timeout)
        try:
            return int(data["id"]), str(data["prj_id"])
        except (TypeError, KeyError, ValueError):
            raise ServerError(f"POST /open/product answered without id/prj_id: {data!r:.80}") from None

    def update_product(self, product_id: Any, details: dict[str, Any]) -> None:
        """PUT /open/product: title, intro_text, target_audience, intro_medias."""
        self._call("PUT", "/open/product", body={"product_id": product_id, **details})

    def render(self, project_id: str, settings: dict[str, Any], sending: Sending = None) -> None:
        """POST /open/project/render with the settings given, and the aspect ratio every
        generation defaults to when the manifest sets none (G0's guide documents no default)."""
        body = {"project_id": project_id, "aspect_ratio": DEFAULT_ASPECT_RATIO, **settings}
        self._call("POST", "/open/project/render", body=body, sending=sending)

    def submit_render(self, record: dict[str, Any], settings: dict[str, Any],
                      sending: Sending = None) -> str:
        """Render the record's project; return the id to poll (here the project's own)."""
        project_id = str(record["project_id"])
        self.render(project_id, settings, sending)
        return project_id

    def find_render(self, record: dict[str, Any]) -> str | None:
        """After a render POST with no answer: the id of the render JoggAI accepted, if any.

        A project that was never rendered reads as status 1 (idle); any other status means
        the render was accepted.
        """
        project_id = str(record["project_id"])
        return None if self.project_info(project_id).status == "idle" else project_id

    def evidence(self, record: dict[str, Any]) -> tuple[str | None, str]:
        """The project's status: past 1 it was accepted; 1 ("start") reads as never started."""
        project_id = str(record["project_id"])
        if self.project_info(project_id).status != "idle":
            return project_id, ""
        return None, f"project {project_id} reads status 1 (start)"

    def whoami(self) -> str | None:
        """G0 has no account read: the avatar list (free, keyed, under /open) proves both
        the key and the path, which is what the preflight needs."""
        self._call("GET", "/open/avatar", params={"aspect_ratio": 0})
        return None

    def project_info(self, project_id: str) -> ProjectInfo:
        """GET /open/prj_info: the project's render status and, when done, its outputs."""
        data = self._call("GET", "/open/prj_info", params={"project_id": project_id})
        if not isinstance(data, dict):
            raise ServerError(f"GET /open/prj_info answered without data: {data!r:.80}")
        raw = data.get("status")
        status = STATUS.get(raw, "pending") if isinstance(raw, int) else "pending"
        return ProjectInfo.read(status, data, data.get("err_msg"))

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        """The choices JoggAI offers for a manifest setting (avatars, voices)."""
        path, key = _CATALOG_OPEN.get(kind, (None, None))
        if path is None:
            raise UsageError(f"the open API lists {', '.join(_CATALOG_OPEN)}; "
                             f"set api.version: v2 for {kind}")
        data = self._call("GET", path, params={"aspect_ratio": 0} if kind == "avatars" else None)
        items = (data or {}).get(key) or []
        return [i for i in items if isinstance(i, dict)]
