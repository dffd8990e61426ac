"""The manifest's JSON Schema: the one statement of its structure, and errors placed on lines."""

from __future__ import annotations

import difflib
import json
import pathlib
import reprlib
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

Path = tuple[Any, ...]
# (path, message, at_key): where to point and what to say.
Finding = tuple[Path, str, bool]

_SECRET_NAMES = {"api_key", "apikey", "api-key", "key", "x-api-key", "x_api_key", "token",
                 "secret", "jogg_api_key", "password"}
SECRET_HINT = "API keys are not accepted in a manifest; set JOGG_API_KEY in the environment"
_FILE = "manifest.schema.json"
_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40


def text() -> str:
    """The schema file as shipped with the package (or beside it, in a source checkout)."""
    try:
        return resources.files("jogg_flow.schemas").joinpath(_FILE).read_text("utf-8")
    except ModuleNotFoundError:
        return (pathlib.Path(__file__).parent.parent / "schemas" / _FILE).read_text("utf-8")


@cache
def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(text())
    return loaded


@cache
def _root() -> Any:  # a jsonschema validator; its stubs type it as a protocol
    return jsonschema.Draft202012Validator(_schema())


def check(data: Any) -> Iterator[Finding]:
    """Every schema violation in `data`, each as a place and a one-line message."""
    for error in _root().iter_errors(data):
        yield from _findings(error)


@cache
def _validator_at(path_shape: tuple[Any, ...]) -> Any:
    root = _root()
    sub = _walk(_schema(), path_shape)
    return None if sub is None else root.evolve(schema=sub)


def check_value(value: Any, path: Path) -> Iterator[Finding]:
    """Violations of the schema for one value found at `path` (used after templating)."""
    validator = _validator_at(tuple(0 if isinstance(p, int) else p for p in path))
    if validator is None:
        return
    for error in validator.iter_errors(value):
        error.path.extendleft(reversed(path))
        yield from _findings(error, echo=False)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        pointer = schema["$ref"].removeprefix("#/").split("/")
        node: Any = _schema()
        for part in pointer:
            node = node[part]
        schema = node
    return schema


def _walk(schema: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any] | None:
    for step in path:
        schema = _resolve(schema)
        branches = [schema] + [_resolve(b) for b in schema.get("anyOf", [])]
        for branch in branches:
            if isinstance(step, int) and "items" in branch:
                schema = branch["items"]
                break
            if isinstance(step, str) and step in branch.get("properties", {}):
                schema = branch["properties"][step]
                break
        else:
            return None
    return _resolve(schema)


def _findings(error: ValidationError, echo: bool = True) -> Iterator[Finding]:
    """`echo=False` for rendered values: the message names the place, never the value."""
    if error.validator == "additionalProperties":
        yield from _unknown_keys(error)
        return
    path = tuple(error.absolute_path)
    name = _name(path)
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if custom:
        yield path, f"{name}: {custom}", False
    elif error.validator == "required":
        yield path, f"{name}: {error.message.replace('property', 'key')}", False
    elif error.context:
        yield from _findings(best_match(error.context), echo)
    elif error.validator == "type":
        got = _short.repr(error.instance) if echo else type(error.instance).__name__
        yield path, f"{name}: expected {error.validator_value}, got {got}", False
    elif error.validator == "propertyNames":
        yield path, f"{name}: {error.message}", False
    else:
        shown = _short.repr(error.instance) if echo else "the rendered value"
        text = error.message.replace(repr(error.instance), shown)
        yield path, f"{name}: {text}", False


def _unknown_keys(error: ValidationError) -> Iterator[Finding]:
    path = tuple(error.absolute_path)
    schema: Any = error.schema
    instance: Any = error.instance
    known = sorted(schema.get("properties", {}))
    for key in instance:
        if key in known:
            continue
        if str(key).lower() in _SECRET_NAMES:
            yield path + (key,), SECRET_HINT, True
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (expected one of: {', '.join(known)})"
        where = f" in {_name(path)}" if path else ""
        yield path + (key,), f"unknown key '{key}'{where}{hint}", True


def _name(path: Path) -> str:
    """A readable name for a place: 'products[2].render.lang'."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "manifest"

