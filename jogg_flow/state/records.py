"""Checks on what a state holds when it is read back: a tampered or damaged field is a
precise StateError (exit 4), never a traceback later in the run."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import StateError

# A product key, optionally "/variant": never a path that could leave a download directory.
KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}(/[A-Za-z0-9][A-Za-z0-9._-]{0,63})?\Z")
_ID = (str, int, type(None))
_TEXT = (str, type(None))
_NUMBER = (int, float, type(None))
# Field -> allowed types; anything else a record holds is kept as it is.
_FIELDS: dict[str, tuple[type, ...]] = {
    "key": (str,), "status": (str,), "product_id": _ID, "project_id": _ID, "steps": (dict,),
    "inputs": (dict,), "tags": (list,), "history": (list,), "outputs": (dict, type(None)),
    "remote": (dict, type(None)), "error": _TEXT, "submitted_at": _TEXT, "finished_at": _TEXT,
    "orphans": (list,), "credits": _NUMBER, "uploads": (dict,),
}
_OUTPUTS: dict[str, tuple[type, ...]] = {"video_url": _TEXT, "cover_url": _TEXT, "duration": _NUMBER}


def check_videos(videos: Any, where: str) -> dict[str, dict[str, Any]]:
    """`videos` as loaded, or StateError naming the first bad field."""
    if not isinstance(videos, dict):
        raise StateError(f"{where}: 'videos' must be an object, not {_kind(videos)}")
    for key, record in videos.items():
        check_record(key, record, where)
    return videos


def check_record(key: Any, record: Any, where: str) -> None:
    """One video's record: a dict with a valid key and the expected field types."""
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise StateError(f"{where}: video key {key!r} is not a valid key "
                         "(KEY or KEY/VARIANT of letters, digits, '.', '_', '-')")
    if not isinstance(record, dict):
        raise StateError(f"{where}: video '{key}': record must be an object, not {_kind(record)}")
    _check_fields(record, _FIELDS, f"{where}: video '{key}'", "")
    steps = record.get("steps", {})
    for step, value in steps.items():
        if not isinstance(value, str):
            raise StateError(f"{where}: video '{key}': field 'steps.{step}' must be a string, "
                             f"not {_kind(value)}")
    if isinstance(record.get("outputs"), dict):
        _check_fields(record["outputs"], _OUTPUTS, f"{where}: video '{key}'", "outputs.")


def _check_fields(record: Mapping[str, Any], fields: Mapping[str, tuple[type, ...]], where: str,
                  prefix: str) -> None:
    for name, types in fields.items():
        if name in record:
            value = record[name]
            if isinstance(value, bool) or not isinstance(value, types):
                allowed = " or ".join(_kind_name(t) for t in types)
                raise StateError(f"{where}: field '{prefix}{name}' must be {allowed}, "
                                 f"not {_kind(value)}")


def _kind_name(t: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", dict: "an object",
            list: "a list", type(None): "null"}.get(t, t.__name__)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return _kind_name(type(value))
