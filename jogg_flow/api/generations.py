"""What jogg-flow knows of each JoggAI API generation, in one place, with no HTTP stack.

`open` is the seed's `/open` product flow (documented November 2024), `v1` what JoggAI's own
n8n node and the no-code integrations call (`https://api.jogg.ai/v1`), `v2` JoggAI's current
docs (`https://api.jogg.ai` + `/v2/...`). The manifest checks, the command line's choices,
the planner's estimate and the clients all read the `Generation` here; importing this
module loads no HTTP stack, so `plan` and a no-op `apply` stay fast.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..errors import UsageError
from ..text import printable, web_url

# The orientation of a video whose manifest sets no `render.aspect_ratio`, the same for every
# generation: landscape (16:9), the only default JoggAI documents (v2 openapi-v2.yaml,
# `video_spec.aspect_ratio: default: landscape`). v1 requires the field and G0's guide names
# none, so every generation's client sends it (a server's own default never decides).
DEFAULT_ASPECT_RATIO = 1
ASPECT_NAMES = {0: "portrait", 1: "landscape", 2: "square"}
ASPECT_SHAPES = {0: "9:16", 1: "16:9", 2: "1:1"}


@dataclass(frozen=True)
class Exclusive:
    """Two render settings a generation takes one at a time: set both for one video and the
    API cannot do what the manifest says, so validate refuses it at the line, naming both."""

    first: str
    second: str
    why: str


@dataclass(frozen=True)
class Generation:
    """One API generation: where it lives, what its renders need, and its client."""

    name: str  # the manifest's `api.version`
    base: str  # the documented host
    shares_products: bool  # one product can carry several videos (variants reuse it)
    # Whether a free read can show that a render whose answer was lost was accepted (G0: the
    # project's status; v2: the video list by name); v1 documents no such read.
    reads_evidence: bool = True
    required_render: tuple[str, ...] = ()  # render settings the API refuses a body without
    # Script styles its docs list (compared case-insensitively, G0's "_stage" suffix allowed);
    # empty: any name is passed on.
    script_styles: tuple[str, ...] = ()
    # The manifest's template_type words -> the API's (unlisted words go as they are).
    template_types: Mapping[str, str] = field(default_factory=dict)
    # Its client, "module:Class" under jogg_flow.api (`api.client_class` loads it on first use).
    client_path: str = ""
    # Whether JoggAI documents a read of the credit left (v2: GET /v2/user/remaining_quota);
    # elsewhere the preflight says so and the plan's estimate is all there is.
    credit_read: bool = False
    # Render settings it takes one at a time (see Exclusive).
    exclusive: tuple[Exclusive, ...] = ()
    # Whether one POST previews several visual styles of a video, and a chosen preview is
    # rendered from its id (v2: create_video_from_product/preview_list, render_single_preview).
    # v1's /v1/preview makes one style per POST and has no render from a preview.
    previews: bool = False

    @cached_property
    def _styles(self) -> dict[str, str]:
        return {s.lower(): s for s in self.script_styles}  # read per video: built once

    def canonical_style(self, value: Any) -> str:
        """A script style as this generation spells it: `Discovery_stage` -> `Discovery`."""
        name = str(value).removesuffix("_stage")
        return self._styles.get(name.lower(), name)

    def knows_style(self, value: str) -> bool:
        """Whether the docs list `value` (always true where no list is documented)."""
        return not self.script_styles or value.lower().removesuffix("_stage") in self._styles


GENERATIONS: dict[str, Generation] = {
    "open": Generation("open", "https://api-services.jogg.ai", shares_products=False,
                       client_path="open:OpenClient"),
    "v1": Generation(
        "v1", "https://api.jogg.ai", shares_products=True, reads_evidence=False,
        required_render=("avatar_id",),
        script_styles=("Don't Worry", "Discovery", "Data", "Top 3 reasons", "Soft Selling",
                       "Humor & Meme", "Feature Explainer", "Soft Storytelling with Twist",
                       "Expert Advice", "Unboxing & Review", "Challenge", "Problem/Solution",
                       "Comparison", "Creative/Innovative", "Emotional Appeal",
                       "Immersive Storytelling"),
        template_types={"common": "public", "user": "custom"}, client_path="v1:V1Client",
        # CreateVideoFromURL guide (api-reference/v1/API Documentation/CreateVideoFromURL.md):
        # a render goes "With Visual Style" (visual_style) or "With Template" (template_id
        # with template_type); no body of it carries both.
        exclusive=(Exclusive("template_id", "visual_style",
                             "v1 renders a video either with a visual style or with a template "
                             "(JoggAI's CreateVideoFromURL guide), never both"),)),
    "v2": Generation(
        "v2", "https://api.jogg.ai", shares_products=True, required_render=("avatar_id",),
        script_styles=("Don't Worry", "Storytime", "Discovery", "Data", "Top 3 reasons",
                       "Light marketing"),
        client_path="v2:V2Client", credit_read=True, previews=True),
}
# JoggAI's pricing: a preview costs 0.5 credit per 2 minutes of video, half a render; every
# length jogg-flow asks for (15, 30, 60 s) is one unit.
PREVIEW_CREDITS = 0.5
VERSIONS = tuple(GENERATIONS)
DEFAULT_BASES = {name: g.base for name, g in GENERATIONS.items()}


def generation(name: str) -> Generation:
    """The generation an `api.version` names (the manifest's schema allows only these)."""
    return GENERATIONS[name]


def resolve_base(version: str, flag: str | None, environ: Mapping[str, str],
                 manifest_base: str | None) -> str:
    """The base URL a run talks to: `--api-base`, then JOGG_API_BASE, then the manifest's
    `api.base_url`, then the generation's documented host. One that urllib cannot read
    (`https://[x`, a port out of range) is a usage error, not a crash later."""
    base = flag or environ.get("JOGG_API_BASE") or manifest_base or DEFAULT_BASES[version]
    if not web_url(base):
        raise UsageError(f"API base {printable(base)!r} is not an http(s) URL")
    return base


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: a key sent there never leaves the machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- local media: the documented types and limits, and each generation's upload route ----------

@dataclass(frozen=True)
class MediaType:
    """A file type JoggAI takes as product media (UploadMedia guide, v2): its MIME type, its
    kind (the product's media `type`: 1 image, 2 video) and the largest size it accepts."""

    mime: str
    kind: int
    max_bytes: int
    magic: tuple[tuple[int, bytes], ...]  # (offset, bytes) any of which the file starts with
    max_seconds: int = 0  # the longest clip it accepts (0: no limit); read where the file says


_MB = 1024 * 1024
_IMAGE, _VIDEO = 10 * _MB, 100 * _MB  # "images ≤ 10 MB; video ≤ 100 MB" (UploadMedia guide)
_CLIP = 5 * 60  # "video ≤ 5 min" (UploadMedia guide)
_ISO = ((4, b"ftyp"),)  # ISO base media (MP4, and MOV as QuickTime writes it today)
MEDIA_TYPES: dict[str, MediaType] = {
    ".jpg": MediaType("image/jpeg", 1, _IMAGE, ((0, b"\xff\xd8\xff"),)),
    ".jpeg": MediaType("image/jpeg", 1, _IMAGE, ((0, b"\xff\xd8\xff"),)),
    ".png": MediaType("image/png", 1, _IMAGE, ((0, b"\x89PNG\r\n\x1a\n"),)),
    ".webp": MediaType("image/webp", 1, _IMAGE, ((8, b"WEBP"),)),
    ".gif": MediaType("image/gif", 1, _IMAGE, ((0, b"GIF87a"), (0, b"GIF89a"))),
    ".mp4": MediaType("video/mp4", 2, _VIDEO, _ISO, _CLIP),
    ".webm": MediaType("video/webm", 2, _VIDEO, ((0, b"\x1a\x45\xdf\xa3"),), _CLIP),
    # Older QuickTime files begin with another atom than `ftyp`.
    ".mov": MediaType("video/quicktime", 2, _VIDEO,
                      (*_ISO, (4, b"moov"), (4, b"mdat"), (4, b"wide"), (4, b"free"), (4, b"skip")),
                      _CLIP),
}


@dataclass(frozen=True)
class UploadRoute:
    """How a generation takes a local file: one POST that answers a signed storage URL and
    the file's hosted URL, then a PUT of the bytes to the signed URL (without the API key).

    v2 `POST /v2/upload/asset {filename, content_type, file_size}` -> `{sign_url, asset_url}`,
    the PUT with the file's MIME type; v1 `POST /v1/upload/asset {filename}` -> `{sign_url,
    asset_id}` (`asset_id` is the URL), the PUT as `application/octet-stream`; G0
    `POST /open/upload/sign {filetype, filename, use_to: media}` -> `{sign_url, full_path}`."""

    path: str
    answer: str  # the field of the answer holding the hosted URL
    put_type: str | None  # the PUT's Content-Type; None: the file's own MIME type

    def body(self, filename: str, mime: str, size: int) -> dict[str, Any]:
        """The POST's body for one file."""
        if self.path.startswith("/v2/"):
            return {"filename": filename, "content_type": mime, "file_size": size}
        if self.path.startswith("/open/"):
            return {"filetype": mime, "filename": filename, "use_to": "media"}
        return {"filename": filename}


UPLOADS: dict[str, UploadRoute] = {
    "open": UploadRoute("/open/upload/sign", "full_path", None),
    "v1": UploadRoute("/v1/upload/asset", "asset_id", "application/octet-stream"),
    "v2": UploadRoute("/v2/upload/asset", "asset_url", None),
}
