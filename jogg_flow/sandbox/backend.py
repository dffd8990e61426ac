"""The sandbox's JoggAI behaviour, apart from HTTP: products, projects, renders, the POST
budget, faults and counters, on a clock that can run faster than real time."""

from __future__ import annotations

import fnmatch
import hashlib
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import media

FAULT_KINDS = ("http_500", "rate_429", "html_502", "reset_before", "slow",
               "drop_after_commit", "malformed", "render_fail", "html_404", "bare_401", "bare_403")
# The request is not carried out. html_404 and bare_401/403 are a gateway's answers: no envelope.
_BEFORE = {"http_500", "rate_429", "html_502", "reset_before", "html_404", "bare_401", "bare_403"}
GENERATIONS = ("open", "v1", "v2")
LANGS = {"english", "filipino", "french", "german", "hindi", "indonesian", "italian", "japanese",
         "korean", "malay", "portuguese", "russian", "spanish", "thai", "vietnamese", "arabic",
         "greek", "turkish", "slovenian", "croatian", "romanian", "chinese", "bengali", "urdu",
         "hungarian", "traditional-chinese", "polish", "cantonese", "danish", "malayalam", "tamil",
         "telugu", "czech", "hebrew", "zulu", "swedish", "lithuanian", "dutch", "flemish",
         "norwegian", "finnish", "bulgarian", "latvian", "ukrainian", "mongolian", "persian",
         "odia", "assamese", "kannada", "tagalog", "amharic", "serbian", "slovak", "swahili"}
STYLES = {s.lower() for s in (
    "Don't Worry", "Storytime", "Discovery", "Data", "Top 3 reasons", "Light marketing",
    "Soft Selling", "Humor & Meme", "Feature Explainer", "Soft Storytelling with Twist",
    "Expert Advice", "Unboxing & Review", "Challenge", "Problem/Solution", "Comparison",
    "Creative/Innovative", "Emotional Appeal", "Immersive Storytelling")}
# What a later sandbox needs to answer for this one's products and renders.
KEPT = ("products", "projects", "v2_products", "v2_videos", "v1_projects", "by_name", "v2_previews",
        "uploads")
MESSAGES = {10104: "Record not found", 10105: "Invalid API key", 18020: "Insufficient credit",
            18025: "No permission to call APIs", 40000: "Parameter error",
            429: "Rate limit exceeded. Please try again later.", 50000: "System error"}


@dataclass
class Fault:
    """A scripted failure: applies to `times` requests matching `route` after `skip` of them
    (or, with `probability`, to each matching request by chance)."""

    kind: str
    route: str = "*"
    times: int = 1
    skip: int = 0
    probability: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS and not _is_code(self.kind):
            raise ValueError(f"unknown fault {self.kind!r}; one of {', '.join(FAULT_KINDS)}, "
                             "or code_NNNNN for a JoggAI error code")


@dataclass
class Config:
    """Sandbox behaviour. Times marked 'API seconds' run `time_scale` times faster than real."""

    render_seconds: float = 180.0  # API seconds from render to success
    time_scale: float = 1.0
    post_limit: int = 20
    post_window: float = 60.0  # API seconds
    latency: float = 0.0  # real seconds added to every API request
    slow_seconds: float = 40.0  # real seconds a 'slow' fault holds its answer
    api_keys: frozenset[str] | None = None  # None: any non-empty key
    auth_http_status: int = 200  # JoggAI's own test fixture answers 401
    credits: int | None = None  # renders the account can pay for; None: unlimited
    fail_rate: float = 0.0  # chance that a render fails remotely
    seed: int = 0
    faults: list[Fault] = field(default_factory=list)
    # Realistic mode (`jogg-flow sandbox --realistic`); the defaults keep the friendly sandbox.
    retry_hint: bool = True  # False: a 429 carries JoggAI's documented body and no Retry-After
    html_404: bool = False  # unknown routes answer a bare HTML 404 page, not JoggAI's envelope
    start_seconds: float = 0.0  # API seconds an accepted render still reads status 1 ("start")
    retired: tuple[str, ...] = ()  # generations whose every route answers a bare HTML 404

    def __post_init__(self) -> None:
        unknown = set(self.retired) - set(GENERATIONS)
        if unknown:
            raise ValueError(f"unknown generation {sorted(unknown)[0]!r}; one of {', '.join(GENERATIONS)}")


def realistic(config: Config | None = None, start_seconds: float = 30.0) -> Config:
    """`config` with every realistic behaviour on that needs no choosing: no retry hint on a
    429, HTML 404 pages for unknown routes, renders reading status 1 for a while."""
    out = config or Config()
    out.retry_hint, out.html_404 = False, True
    out.start_seconds = out.start_seconds or start_seconds
    return out


class ApiFailure(Exception):
    def __init__(self, code: int, msg: str | None = None, http: int = 200) -> None:
        super().__init__(msg)
        self.code, self.msg, self.http = code, msg or MESSAGES.get(code, "error"), http


class Backend:
    """JoggAI's behaviour, independent of HTTP: products, projects, renders, budget."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.rng = random.Random(config.seed)
        self.t0 = time.monotonic()
        self.t_offset = 0.0  # API seconds a restored sandbox had already run (see `restore`)
        self.products: dict[int, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.v2_products: dict[str, dict[str, Any]] = {}
        self.v2_videos: dict[str, dict[str, Any]] = {}
        self.v1_projects: dict[str, dict[str, Any]] = {}
        self.v2_previews: dict[str, dict[str, Any]] = {}
        self.by_name: dict[str, list[str]] = {}  # v1/v2 video_name -> the renders it named
        self.uploads: dict[str, dict[str, Any]] = {}  # upload token -> its file's record (uploads.py)
        self.upload_bytes: dict[str, bytes] = {}  # token -> the bytes PUT (not kept across restarts)
        self.per_product: Counter[str] = Counter()
        self.posts: dict[str, deque[float]] = {}
        self.faults = list(config.faults)
        self.fault_seen: Counter[int] = Counter()
        self.counters: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.renders: Counter[str] = Counter()
        self.credits: float | None = config.credits
        # Told of each record of KEPT that changes, before the answer reporting it is sent.
        self.keeper: Callable[[str, Any, Any], None] | None = None

    def now(self) -> float:
        """API time in seconds since start."""
        return self.t_offset + (time.monotonic() - self.t0) * self.config.time_scale

    def changed(self, table: str, key: Any) -> None:
        """Hand the keeper a record of `table` (one of KEPT) that just changed; the caller
        holds the lock, so records reach the keeper in the order they changed."""
        if self.keeper is not None:
            self.keeper(table, key, getattr(self, table)[key])

    def snapshot(self) -> dict[str, Any]:
        """The remote records as plain data, with the API time and the wall time they were
        taken at, so a restored sandbox's clock goes on (a render keeps rendering while no
        sandbox runs, as it would at JoggAI)."""
        with self.lock:
            out: dict[str, Any] = {"version": 1, "api_now": self.now(), "wall": time.time()}
            for name in KEPT:
                out[name] = list(getattr(self, name).items())  # pairs keep int keys ints
            return out

    def restore(self, data: dict[str, Any]) -> None:
        """Take over a snapshot's records and clock (before serving any request)."""
        if data.get("version") != 1:
            raise ValueError("not a sandbox snapshot of version 1")
        with self.lock:
            for name in KEPT:
                getattr(self, name).update({k: v for k, v in data.get(name, [])})
            away = max(0.0, time.time() - float(data["wall"]))
            self.t_offset = float(data["api_now"]) + away * self.config.time_scale
            self.t0 = time.monotonic()

    def pick_fault(self, route: str) -> str | None:
        """The fault for this request, if any: every fault counts every request it matches."""
        chosen = None
        with self.lock:
            for i, fault in enumerate(self.faults):
                if not fnmatch.fnmatchcase(route, fault.route):
                    continue
                if fault.probability is not None:
                    hit = self.rng.random() < fault.probability
                else:
                    self.fault_seen[i] += 1
                    seen = self.fault_seen[i]
                    hit = seen > fault.skip and (fault.times == 0 or seen <= fault.skip + fault.times)
                if hit and chosen is None:
                    chosen = fault.kind
            if chosen:
                self.counters[f"fault_{chosen}"] += 1
        return chosen

    def admit_post(self, key: str) -> float | None:
        """None if the POST fits the budget, else the seconds until it would."""
        now, window = self.now(), self.config.post_window
        with self.lock:
            times = self.posts.setdefault(key, deque())
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= self.config.post_limit:
                self.counters["rate_limited"] += 1
                return (times[0] + window - now) / self.config.time_scale
            times.append(now)
            return None

    def create_product(self, body: dict[str, Any], base: str) -> dict[str, Any]:
        url = body.get("url")
        if not isinstance(url, str) or not url:
            raise ApiFailure(40000, "Parameter error: url is required")
        if not url.startswith(("http://", "https://")):
            raise ApiFailure(40000, "Parameter error: url is invalid")
        digest = hashlib.sha256(url.encode()).hexdigest()
        slug = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or urlsplit(url).netloc
        with self.lock:
            product_id = 3924 + len(self.products)
            prj_id = uuid.uuid4().hex
            self.products[product_id] = {
                "id": product_id, "prj_id": prj_id, "url": url,
                "title": f"Product {slug}", "intro_text": f"Sandbox description of {url} ({digest[:8]})",
                "target_audience": "everyone", "intro_medias": [
                    {"type": 1, "url": f"{base}/files/{digest[:12]}-{n}.png",
                     "name": f"{n}.png", "description": f"Picture {n} of {slug}"} for n in (1, 2, 3)]}
            self.projects[prj_id] = {"product_id": product_id, "rendered_at": None, "fails": False,
                                     "created_at": int(time.time()), "settings": {}}
            self.counters["products_created"] += 1
            self.changed("products", product_id)
            self.changed("projects", prj_id)
        return {"id": product_id, "prj_id": prj_id}

    def update_product(self, body: dict[str, Any]) -> None:
        product_id = body.get("product_id")
        if not isinstance(product_id, int) or isinstance(product_id, bool):
            raise ApiFailure(40000, "Parameter error: product_id is required")
        for name in ("title", "intro_text", "target_audience"):
            if name in body and not isinstance(body[name], str):
                raise ApiFailure(40000, f"Parameter error: {name} must be a string")
        medias = body.get("intro_medias")
        if medias is not None and not (isinstance(medias, list) and all(
                isinstance(m, dict) and m.get("type") in (1, 2) and isinstance(m.get("url"), str)
                for m in medias)):
            raise ApiFailure(40000, "Parameter error: intro_medias")
        with self.lock:
            product = self.products.get(product_id)
            if product is None:
                raise ApiFailure(10104)
            product.update({k: body[k] for k in ("title", "intro_text", "target_audience",
                                                 "intro_medias") if k in body})
            self.counters["products_updated"] += 1
            self.changed("products", product_id)

    def render(self, body: dict[str, Any], fault: str | None) -> None:
        project_id = body.get("project_id")
        if not isinstance(project_id, str) or not project_id:
            raise ApiFailure(40000, "Parameter error: project_id is required")
        _check_render(body)
        with self.lock:
            project = self.projects.get(project_id)
            if project is None:
                raise ApiFailure(10104)
            self.charge()
            project.update(rendered_at=self.now(), settings=dict(body),
                           fails=fault == "render_fail" or self.rng.random() < self.config.fail_rate)
            self.count_render(project_id, str(project["product_id"]))
            self.changed("projects", project_id)

    def charge(self) -> None:
        """Take one render's credit, or refuse with 18020 (the caller holds the lock):
        JoggAI deducts credits when it accepts a render."""
        if self.credits is not None:
            if self.credits < 1:
                raise ApiFailure(18020)
            self.credits -= 1

    def count_render(self, render_id: str, product_id: str, name: str = "") -> None:
        """Count an accepted render (the caller holds the lock)."""
        self.renders[render_id] += 1
        self.per_product[product_id] += 1
        self.counters["renders_accepted"] += 1
        if name:
            self.by_name.setdefault(name, []).append(render_id)
            self.changed("by_name", name)

    def project_info(self, project_id: str, base: str) -> dict[str, Any]:
        if not project_id:
            raise ApiFailure(40000, "Parameter error: project_id is required")
        with self.lock:
            project = self.projects.get(project_id)
            if project is None:
                raise ApiFailure(10104)
            product = self.products[project["product_id"]]
        status, progress, err = _progress(project, self.now(), self.config.render_seconds,
                                          self.config.start_seconds)
        done = status == 4
        settings = project["settings"]
        return {
            "id": project_id, "title": product["title"], "progress": progress,
            "progress_desc": {1: "", 2: "waiting", 3: "rendering", 4: "success", 5: "failed"}[status],
            "aspect_ratio": settings.get("aspect_ratio", 0), "step": status, "status": status,
            "err_msg": err, "video_path": f"project/{project_id}/video.mp4" if done else "",
            "video_duration": media.VIDEO_SECONDS if done else 0,
            "video_url": f"{base}/files/{project_id}.mp4" if done else "",
            "cover_path": f"project/{project_id}/cover.png" if done else "",
            "cover_url": f"{base}/files/{project_id}.png" if done else "",
            "workspace_index": 0, "template_id": 0,
            "template_type": settings.get("template_type", "common"), "index_template_id": 0,
            "person_id": settings.get("avatar_id", 0), "placeholder_cover_url": "",
            "created_at": project["created_at"], "updated_at": int(time.time()),
        }

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "products_created": self.counters["products_created"],
                "products_updated": self.counters["products_updated"],
                "renders_accepted": self.counters["renders_accepted"],
                "renders_per_project": dict(self.renders),
                "renders_per_product": dict(self.per_product),
                "renders_by_name": {k: list(v) for k, v in self.by_name.items()},
                "previews_made": self.counters["previews_made"],
                "previews_by_title": _by_title(self.v2_previews),
                "renders_from_previews": self.counters["renders_from_previews"],
                "requests": dict(self.requests),
                "rate_limited": self.counters["rate_limited"],
                "faults": {k[6:]: v for k, v in self.counters.items() if k.startswith("fault_")},
                "credits_left": self.credits,
                "files_served": self.counters["files_served"],
                "range_requests": self.counters["range_requests"],
                **{k: v for k, v in self.counters.items() if k.startswith("upload")},
            }


def _by_title(previews: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """The styles previewed under each request's name (the caller holds the lock)."""
    out: dict[str, list[str]] = {}
    for preview in previews.values():
        out.setdefault(str(preview.get("title") or ""), []).append(str(preview.get("style")))
    return out


def _check_render(body: dict[str, Any]) -> None:
    rules: dict[str, Callable[[Any], bool]] = {
        "aspect_ratio": lambda v: v in (0, 1, 2) and not isinstance(v, bool),
        "render_subtitle": lambda v: v in (0, 1) and not isinstance(v, bool),
        "lang": lambda v: v in LANGS,
        "avatar_id": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "template_type": lambda v: v in ("common", "user"),
        "template_name": lambda v: isinstance(v, str),
        "index_template_name": lambda v: isinstance(v, str),
        "script_style": lambda v: isinstance(v, str) and v.lower().removesuffix("_stage") in STYLES,
    }
    for name, ok in rules.items():
        if name in body and not ok(body[name]):
            raise ApiFailure(40000, f"Parameter error: {name} is invalid")


def _progress(project: dict[str, Any], now: float, duration: float,
              start: float = 0.0) -> tuple[int, int, str]:
    """(status 1-5, progress, error) of a render; it reads 1 for `start` seconds once accepted."""
    if project["rendered_at"] is None:
        return 1, 0, ""
    elapsed = now - project["rendered_at"] - start
    if elapsed < 0:
        return 1, 0, ""
    if elapsed < 0.1 * duration:
        return 2, 0, ""
    if elapsed < duration:
        return 3, max(1, min(99, int(100 * elapsed / duration))), ""
    if project["fails"]:
        return 5, 100, "Render failed: the avatar could not be composed (sandbox)"
    return 4, 100, ""


def _is_code(kind: str) -> bool:
    """`code_40000` and the like: answer with that JoggAI code, doing nothing."""
    return kind.startswith("code_") and kind[5:].isdigit()
