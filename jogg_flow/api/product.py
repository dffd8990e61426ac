"""The product body v1 and v2 share: the manifest's details under the names both generations use."""

from __future__ import annotations

from typing import Any

_DETAILS = {"title": "name", "intro_text": "description", "target_audience": "target_audience"}
_MEDIA_FIELDS = ("type", "name", "url", "description")


def product_body(product_id: Any, details: dict[str, Any]) -> dict[str, Any]:
    """`PUT /v1/product` and `PUT /v2/product`: name, description, target_audience, media."""
    body: dict[str, Any] = {"product_id": product_id}
    body.update({theirs: details[ours] for ours, theirs in _DETAILS.items() if ours in details})
    if "intro_medias" in details:
        body["media"] = [{k: m[k] for k in _MEDIA_FIELDS if k in m} for m in details["intro_medias"]]
    return body
