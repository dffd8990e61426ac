"""From a manifest file to the list of videos it asks for: load, render, check, normalise."""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..api.generations import GENERATIONS
from ..errors import ManifestError, Problem
from . import loader, schema
from .media_files import LocalMedia, is_local, local_item
from .model import Manifest, Video, parse_duration, parse_rate
from .templating import (
    CREDENTIAL,
    SECRET_ENV,
    Named,
    TemplateError,
    Templater,
    did_you_mean,
    is_template,
    url_context,
)

Path = tuple[Any, ...]
_MISSING: Any = object()
_ASPECT = {"9:16": 0, "portrait": 0, "0": 0, "16:9": 1, "landscape": 1, "1": 1,
           "1:1": 2, "square": 2, "2": 2}
_VIDEO_EXT = (".mp4", ".mov", ".webm", ".m4v", ".avi", ".mkv")
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?:[/?#][^\[\]]*)?\Z")
_SECRET_VAR = re.compile(r"api[_-]?key|secret|token|password", re.IGNORECASE)


def load_manifest(path: str, environ: Mapping[str, str] | None = None, *,
                  offline: bool = False, media: bool = True) -> Manifest:
    """Load, render and validate `path`; raise ManifestError listing every problem.
    `offline`: URL feeds are not fetched (their products are left out). `media=False`: local
    media files are neither read nor hashed (for commands that need only the manifest's
    name and API settings; the videos' details then name them as written)."""
    environ = os.environ if environ is None else environ
    doc = loader.load(path)
    build = Builder(doc, environ, media)
    build.offline = offline
    for where, message, at_key in schema.check(doc.data):
        build.problems.append(doc.problem(where, message, at_key=at_key))
    videos = build.videos() if isinstance(doc.data, dict) else []
    if isinstance(doc.data, dict) and isinstance(doc.data.get("name"), str):
        build.portable(("name",), doc.data["name"], "name")
    unseen_after = _duration(build, ("api", "rerender_unseen_after"))
    moved = _moves(build, doc.data.get("moved") if isinstance(doc.data, dict) else None, videos)
    if build.problems:
        raise ManifestError(build.problems)
    data = doc.data
    api = build.api
    stem = os.path.splitext(os.path.basename(path))[0]
    return Manifest(
        file=path,
        name=data.get("name") or stem,
        api_version=api.get("version", "open"),
        base_url=api.get("base_url"),
        post_rate=parse_rate(api["post_rate"]) if "post_rate" in api else None,
        videos=videos,
        doc=doc,
        feeds=tuple(build.feeds),
        rerender_unseen_after=unseen_after,
        moved=moved,
    )


def _duration(build: Builder, path: tuple[str, str]) -> float | None:
    """A duration setting in seconds (None when absent, or refused by the schema already)."""
    value = build.api.get(path[1])
    try:
        seconds = parse_duration(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if seconds is not None and seconds <= 0:
        build.fail(path, "must be more than 0 seconds")
    return seconds


def _moves(build: Builder, entries: Any, videos: list[Video]) -> tuple[tuple[str, str], ...]:
    """`moved:` as (from, to) pairs: each `to` a video of this manifest, each `from` one it no
    longer has, each named once (a chain a → b → c is two renames, said as a → c)."""
    keys = {v.key for v in videos}
    out: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("from", "to")):
            continue  # the schema said what is wrong with it
        old, new = entry["from"], entry["to"]
        if new not in keys:
            build.fail(("moved", i, "to"), f"moved: '{new}' is not a video of this manifest"
                       f"{did_you_mean(new, sorted(keys))}")
        elif old in keys:
            build.fail(("moved", i, "from"), f"moved: '{old}' is still a video of this manifest; "
                       "`from` names the key it had before")
        for end, key in (("from", old), ("to", new)):
            if (end, key) in seen:
                build.fail(("moved", i, end), f"moved: '{key}' is named as `{end}` twice "
                           f"(first at moved[{seen[end, key]}])")
            seen[end, key] = i
        out.append((old, new))
    return tuple(out)


class Builder:
    """One pass over the parsed tree: templates rendered where they stand, defaults merged.

    Problems are collected, never raised; feeds' rows come in through `feed_rows`, which
    calls back `product`, `recheck`, `fail` and `templater` (its `ProductBuilder`)."""

    def __init__(self, doc: loader.Document, environ: Mapping[str, str], media: bool = True) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self.templater = Templater(environ)
        secret = environ.get(SECRET_ENV, "")
        self.secret = secret if len(secret) >= 8 else None
        self.checked: set[tuple[Path, str]] = set()
        self.api: dict[str, Any] = {}
        self.offline = False
        self.feeds: list[Any] = []
        self.media = LocalMedia(doc.file, self.fail) if media else None
        self._defaults: dict[Path, Any] = {}  # defaults-only settings, rendered once (`_shared`)

    def fail(self, path: Path, message: str, at_key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, at_key=at_key))

    def fail_once(self, path: Path, message: str) -> None:
        """A problem of a merged setting: said once, at the line that set it."""
        problem = self.doc.problem(path, message)
        if problem not in self.problems:
            self.problems.append(problem)

    def value(self, value: Any, path: Path, ctx: Mapping[str, Any]) -> Any:
        """`value` with every string rendered; templated results are schema-checked again."""
        if isinstance(value, str):
            if self.secret and self.secret in value:
                self.fail(path, schema.SECRET_HINT)
            if not is_template(value):
                return self._storable(value, path)
            try:
                out = self.templater.render(value, ctx)
            except TemplateError as err:
                self.fail(path, str(err))
                return value
            # A second line behind the restricted `env`: the key, or a reversed or
            # re-cased copy of it, in any rendered value is refused.
            if self.secret and _holds(out, self.secret):
                self.fail(path, schema.SECRET_HINT)
                return value
            self.recheck(out, value, path)
            return self._storable(out, path)
        if isinstance(value, list):
            return [self.value(item, path + (i,), ctx) for i, item in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.value(v, path + (k,), ctx) for k, v in value.items()}
        return value

    def _storable(self, text: str, path: Path) -> str:
        """`text`, when every state store can hold it: PostgreSQL's text refuses NUL, and no
        store can encode a lone surrogate (a JSON feed's "\\ud800"). Refused here, at the
        line, rather than by the state in the middle of a run. A URL must also parse (the
        schema's pattern lets `https://[x/` through, which urllib cannot split)."""
        if path and path[-1] in ("url", "base_url") or path[-2:-1] == ("intro_medias",):
            problem = _unparsable(text)
            if problem:
                self.fail(path, f"{schema.place(path)}: is not a URL that can be read ({problem})")
        if text.isprintable():
            return text
        what = "a NUL character" if "\0" in text else "a lone surrogate (half of a UTF-16 pair)" \
            if any("\ud800" <= c <= "\udfff" for c in text) else None
        if what:
            self.fail(path, f"{schema.place(path)}: holds {what}, which a state cannot keep")
        return text

    def recheck(self, out: str, source: str, path: Path) -> None:
        shape = tuple(0 if isinstance(p, int) else p for p in path)
        if (shape, out) in self.checked:
            return
        self.checked.add((shape, out))
        # The message quotes the template, never what it rendered to: a rendered value may
        # hold environment data, and a message goes to logs and GitHub annotations.
        for where, message, at_key in schema.check_value(out, path):
            self.fail(where, f"{message} (templated from {_clip(source)!r})", at_key)

    def portable(self, path: Path, name: str, what: str) -> None:
        """A name that becomes a file name (state, media, downloads) must be one Windows
        accepts too: no device name (CON, NUL, COM1, ...) and no trailing dot."""
        reason = windows_name_problem(name)
        if reason:
            self.fail(path, f"{what} '{name}' {reason}, which Windows cannot use as a file name; "
                      "choose another")

    def merged(self, layers: list[tuple[Any, Path]], ctx: Mapping[str, Any]) -> Any:
        """Deep-merge mappings, the last layer winning, rendering each value at its origin."""
        layers = [(v, p) for v, p in layers if v is not _MISSING]
        if not layers:
            return _MISSING
        if len(layers) > 1 and all(isinstance(v, dict) for v, _ in layers):
            keys = dict.fromkeys(k for v, _ in layers for k in v)
            return {k: self.merged([(v.get(k, _MISSING), p + (k,)) for v, p in layers], ctx)
                    for k in keys}
        value, path = layers[-1]
        if len(layers) == 1 and path[0] == "defaults":
            return self._shared(value, path, ctx)
        return self.value(value, path, ctx)

    def _shared(self, value: Any, path: Path, ctx: Mapping[str, Any]) -> Any:
        """A setting only `defaults` gives: rendered and checked once for every video, when
        nothing in it depends on the product (a fresh copy each time, as `value` gives)."""
        hit = self._defaults.get(path, _MISSING)
        if hit is not _MISSING:
            return _fresh(hit)
        before = len(self.problems)
        out = self.value(value, path, ctx)
        if len(self.problems) == before and self._constant(value):
            self._defaults[path] = out
            return _fresh(out)
        return out

    def _constant(self, value: Any) -> bool:
        """Whether every template in `value` rendered to a result shared by all videos."""
        if isinstance(value, str):
            return not is_template(value) or self.templater.is_constant(value)
        if isinstance(value, list):
            return all(self._constant(v) for v in value)
        if isinstance(value, dict):
            return all(self._constant(v) for v in value.values())
        return True

    def videos(self) -> list[Video]:
        data = self.doc.data
        self._env(data.get("env"))
        self._vars(data.get("vars"))
        api = data.get("api")
        self.api = self.value(api, ("api",), {}) if isinstance(api, dict) else {}
        defaults = data.get("defaults")
        defaults = defaults if isinstance(defaults, dict) else {}
        products = data.get("products")
        out: list[Video] = []
        seen: dict[str, int] = {}
        for i, product in enumerate(products if isinstance(products, list) else []):
            if not isinstance(product, dict) or not isinstance(product.get("key"), str):
                continue
            key = product["key"]
            if key in seen:
                self.fail(("products", i, "key"), f"duplicate product key '{key}' "
                          f"(first used by products[{seen[key]}])")
                continue
            seen[key] = i
            self.portable(("products", i, "key"), key, "product key")
            out.extend(self.product(i, product, defaults))
        if data.get("products_from"):
            from .feed_rows import feed_videos  # only manifests with feeds load it

            out.extend(feed_videos(self, data["products_from"], defaults, seen))
        return out

    def _env(self, names: Any) -> None:
        if not isinstance(names, list):
            return
        declared = []
        for i, name in enumerate(names):
            if not isinstance(name, str):
                continue
            found = CREDENTIAL.search(name)
            if name == SECRET_ENV:
                self.fail(("env", i), schema.SECRET_HINT)
            elif found:
                self.fail(("env", i), f"env: {name} looks like a credential ({found.group(0).upper()}); "
                          "templates never see credentials")
            else:
                declared.append(name)
        self.templater.declare(tuple(declared))

    def _vars(self, variables: Any) -> None:
        if not isinstance(variables, dict):
            return
        for name, value in variables.items():
            if _SECRET_VAR.search(str(name)):
                self.fail(("vars", name), schema.SECRET_HINT, at_key=True)
            self.templater.set_var(name, self.value(value, ("vars", name), {}))

    def product(self, i: int, product: dict[str, Any], defaults: dict[str, Any],
                 base: Path | None = None, row: Mapping[str, Any] | None = None) -> list[Video]:
        # A feed's product (i < 0) has its template's place as `base` and sees its `row`.
        base = base or ("products", i)
        extra = {} if row is None else {"row": row}
        tags = product.get("tags") or []
        url = self.value(product.get("url", ""), base + ("url",),
                         {**extra, **url_context(product["key"], tags)})
        ctx: dict[str, Any] = {**extra, "product": Named("product", {"key": product["key"], "url": url,
                                                                     "tags": tags})}
        variants = product.get("variants")
        if not isinstance(variants, list):
            variants = [None]
        out = []
        names: dict[str, int] = {}
        for j, variant in enumerate(variants):
            layers_of = [(defaults, ("defaults",)), (product, base)]
            name = None
            vctx = ctx
            if isinstance(variant, dict):
                name = variant.get("name")
                if not isinstance(name, str):
                    continue
                if name in names:
                    self.fail(base + ("variants", j, "name"), f"duplicate variant name '{name}' "
                              f"in product '{product['key']}'")
                    continue
                names[name] = j
                self.portable(base + ("variants", j, "name"), name, "variant name")
                layers_of.append((variant, base + ("variants", j)))
                vctx = {**ctx, "variant": Named("variant", {"name": name})}
            sections = {}
            for section in ("details", "render"):
                layers = [(layer.get(section, _MISSING), path + (section,)) for layer, path in layers_of]
                merged = self.merged(layers, vctx)
                sections[section] = merged if isinstance(merged, dict) else {}
            version = str(self.api.get("version", "open"))
            for name, message in render_problems(version, sections["render"]):
                self.fail_once(_origin(layers_of, name), message + self._other_line(layers_of, version, name))
            render = normalise_render(sections["render"], version)
            # Which styles `preview` previews is not an input of the render: adding one never
            # makes a rendered video out of date.
            styles = render.pop("preview_styles", None)
            details = normalise_details(sections["details"])
            files: dict[str, str] = {}
            if self.media is not None:  # local media read and hashed (not for name-only loads)
                details, files = self.media.attach(details, functools.partial(_media_origin, layers_of))
            out.append(Video(
                key=f"{product['key']}/{name}" if name else product["key"],
                product=product["key"], variant=name, url=url if isinstance(url, str) else "",
                tags=tuple(t for t in tags if isinstance(t, str)), details=details, render=render,
                index=i, local_files=files,
                preview_styles=tuple(str(s) for s in styles) if isinstance(styles, list) else ()))
        return out

    def _other_line(self, layers: list[tuple[Any, Path]], version: str, name: str) -> str:
        """For two settings a generation takes one at a time: where the other one was set."""
        api = GENERATIONS.get(version)
        for pair in api.exclusive if api else ():
            if pair.first == name:
                where = self.doc.problem(_origin(layers, pair.second), "")
                return f" (render.{pair.second} is set at line {where.line})"
        return ""


_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
            *(f"lpt{i}" for i in range(1, 10))}


def windows_name_problem(name: str) -> str | None:
    """Why Windows refuses `name` as a file name, or None (the schema's patterns already
    keep out `:`, slashes and the other reserved characters)."""
    if name.split(".", 1)[0].lower() in _DEVICES:
        return f"is a reserved device name ({name.split('.', 1)[0].upper()})"
    if name.endswith("."):
        return "ends with a dot"
    return None


def _unparsable(url: str) -> str | None:
    """Why urllib cannot read `url` (a lone '[', a port out of range), or None."""
    if _PLAIN_URL.match(url):
        return None  # an ASCII host name, no port, no brackets: nothing urllib refuses
    try:
        urlsplit(url).port  # noqa: B018 - reading the port is the check
    except ValueError as err:
        return str(err)
    return None


def _fresh(value: Any) -> Any:
    """A copy of the containers in `value` (its strings and numbers are immutable)."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


def _holds(text: str, secret: str) -> bool:
    low, key = text.lower(), secret.lower()
    return key in low or key[::-1] in low


def _clip(source: str) -> str:
    return source if len(source) <= 80 else source[:77] + "..."




def render_problems(version: str, render: dict[str, Any]) -> list[tuple[str, str]]:
    """What a generation cannot render, once defaults are merged: (setting, message).

    v1 and v2 bodies need an avatar id: refused here rather than by a 40000 after the
    product was created (and paid for with a crawl)."""
    out: list[tuple[str, str]] = []
    api = GENERATIONS.get(version)
    if api is None:
        return out  # an unknown api.version: the schema check said so
    if "avatar_id" in api.required_render and "avatar_id" not in render:
        out.append(("avatar_id", f"render.avatar_id is required for api.version {version} "
                    "(set it under defaults.render; `jogg-flow catalog avatars` lists them)"))
    style = render.get("script_style")
    if isinstance(style, str) and not api.knows_style(style):
        out.append(("script_style", f"script_style '{style}' is not one of api.version "
                    f"{version}'s: {', '.join(api.script_styles)}"))
    for pair in api.exclusive:
        if pair.first in render and pair.second in render:
            out.append((pair.first, f"render.{pair.first} ({render[pair.first]!r}) and render."
                        f"{pair.second} ({render[pair.second]!r}) are both set for this video: "
                        f"{pair.why}; keep one (a setting under defaults applies to every product)"))
    return out


def _media_origin(layers: list[tuple[Any, Path]], index: int) -> Path:
    """The place of item `index` of the details.intro_medias a video took (the last layer's)."""
    for layer, path in reversed(layers):
        details = layer.get("details") if isinstance(layer, dict) else None
        if isinstance(details, dict) and "intro_medias" in details:
            return (*path, "details", "intro_medias", index)
    return layers[-1][1]


def _origin(layers: list[tuple[Any, Path]], name: str) -> Path:
    """The place that set render.`name` last, else the video's own product or variant."""
    for layer, path in reversed(layers):
        render = layer.get("render") if isinstance(layer, dict) else None
        if isinstance(render, dict) and name in render:
            return (*path, "render", name)
    video: Path = layers[-1][1]
    return video


def normalise_render(render: dict[str, Any], version: str = "open") -> dict[str, Any]:
    """Friendly forms to the API's: aspect ratio 0|1|2, subtitles 0|1, ids as ints; v1's
    template_type as public|custom."""
    out = dict(render)
    try:
        types = GENERATIONS[version].template_types if version in GENERATIONS else {}
        if out.get("template_type") in types:
            out["template_type"] = types[out["template_type"]]
        if "template_id" in out:
            out["template_id"] = int(out["template_id"])
        if "aspect_ratio" in out:
            value = out["aspect_ratio"]
            out["aspect_ratio"] = value if isinstance(value, int) else _ASPECT[str(value)]
        if "render_subtitle" in out:
            out["render_subtitle"] = 1 if out["render_subtitle"] in (True, "true", "1") else 0
        for name in ("avatar_id", "music_id"):
            if name in out:
                out[name] = int(out[name])
        if "avatar_type" in out:
            out["avatar_type"] = 1 if out["avatar_type"] in (1, "custom") else 0
        if "video_length" in out:
            out["video_length"] = str(out["video_length"])
    except (KeyError, ValueError, TypeError):
        pass  # already reported by the schema check; the manifest will be refused
    return out


def normalise_details(details: dict[str, Any]) -> dict[str, Any]:
    """Media given as URLs become the objects PUT /open/product expects; files, local items."""
    out = dict(details)
    if isinstance(out.get("intro_medias"), list):
        out["intro_medias"] = [_media(m) for m in out["intro_medias"]]
    return out


def _media(item: Any) -> Any:
    if isinstance(item, str):
        item = {"file": item} if is_local(item) else {"url": item}
    if isinstance(item, dict) and isinstance(item.get("file"), str):
        return local_item(item)  # its type and hash come from the file (media_files)
    if not isinstance(item, dict) or not isinstance(item.get("url"), str):
        return item
    url = item["url"]
    path = urlsplit(url).path if _unparsable(url) is None else url  # refused already: see _storable
    kind = item.get("type") or ("video" if path.lower().endswith(_VIDEO_EXT) else "image")
    media = {"type": 2 if kind == "video" else 1, "url": url,
             "name": item.get("name") or posixpath.basename(path) or "media"}
    if "description" in item:
        media["description"] = item["description"]
    return media
