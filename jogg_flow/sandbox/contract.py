"""The request bodies JoggAI documents, as the sandbox enforces them: required fields, types
and enums, field by field, answered as JoggAI does (40000 "Parameter error: <field> ...").

Written from JoggAI's published specs (`JoggAI-Tech/docs` at 73d097d: `api-reference/v2/
openapi-v2.yaml`, `api-reference/v1/openapi.json`), not from the client: a client that
departs from them meets the same refusal here as at JoggAI (docs/api-contract.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .backend import ApiFailure

Check = Callable[[Any], bool]


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _obj(v: Any) -> bool:
    return isinstance(v, dict)


def _media(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(m, dict) and m.get("type", 1) in (1, 2) and not isinstance(m.get("type"), bool)
        and all(isinstance(m[k], str) for k in ("name", "url", "description") if k in m) for m in v)


# (dotted field, required, check). A nested field is checked only when its parent is an object.
Rules = tuple[tuple[str, bool, Check], ...]

V2_STYLES = ("Don't Worry", "Storytime", "Discovery", "Data", "Top 3 reasons", "Light marketing")
# POST /v2/create_video_from_product: `required: product_id, video_spec, avatar, voice, audio,
# script`; video_spec requires length, avatar requires id, script requires style and language.
V2_RENDER: Rules = (
    ("product_id", True, lambda v: _str(v) and bool(v)),
    ("video_spec", True, _obj),
    ("video_spec.length", True, lambda v: v in ("15", "30", "60")),
    ("video_spec.aspect_ratio", False, lambda v: v in ("portrait", "landscape", "square")),
    ("video_spec.caption", False, lambda v: isinstance(v, bool)),
    ("video_spec.name", False, _str),
    ("avatar", True, _obj),
    ("avatar.id", True, _int),
    ("avatar.type", False, lambda v: _int(v) and v in (0, 1)),
    ("voice", True, _obj),
    ("voice.id", False, _str),
    ("audio", True, _obj),
    ("audio.music_id", False, lambda v: _int(v) and v >= 0),
    ("script", True, _obj),
    ("script.style", True, lambda v: v in V2_STYLES),
    ("script.language", True, _str),
    ("visual_style", False, _str),
    ("override_script", False, _str),
    ("webhook_url", False, _str),
)
# POST /v2/create_video_from_product/preview_list: the render body's required fields plus
# `visual_styles` (string[]); `visual_style` is not one of its fields. The schema also puts
# `language` at the top level (its examples keep it in `script`).
V2_PREVIEW_LIST: Rules = (
    *(rule for rule in V2_RENDER if rule[0] != "visual_style"),
    ("visual_styles", True, lambda v: isinstance(v, list) and bool(v) and all(_str(s) and s for s in v)),
    ("language", False, _str),
)
# POST /v2/create_video_from_product/render_single_preview: `required: preview_id` (a string).
V2_RENDER_PREVIEW: Rules = (("preview_id", True, lambda v: _str(v) and bool(v)),)
# POST /v1/product, /v2/product: every field optional (a url, or a name with its media).
PRODUCT: Rules = (
    ("url", False, _str), ("name", False, _str), ("description", False, _str),
    ("target_audience", False, _str), ("media", False, _media),
)
# PUT /v1/product, /v2/product: `required: product_id` (a string in both specs).
PRODUCT_UPDATE: Rules = (("product_id", True, lambda v: _str(v) and bool(v)), *PRODUCT[1:])


def check(body: Mapping[str, Any], rules: Rules) -> None:
    """40000 naming the first field the rules refuse: missing when required, or of the wrong
    type or value."""
    for name, required, ok in rules:
        parent, _, leaf = name.rpartition(".")
        holder: Any = body
        for part in parent.split(".") if parent else ():
            holder = holder.get(part) if isinstance(holder, dict) else None
        if not isinstance(holder, dict):
            continue  # the parent was refused already, or is absent and optional
        if leaf not in holder:
            if required:
                raise ApiFailure(40000, f"Parameter error: {name} is required")
            continue
        if not ok(holder[leaf]):
            raise ApiFailure(40000, f"Parameter error: {name} is invalid")
