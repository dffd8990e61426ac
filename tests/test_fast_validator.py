"""The compiled validator in front of jsonschema: it may only ever say "ok" where jsonschema does.

Thousands of broken manifests are made by a seeded mutator from the shipped manifests and the
invalid fixtures; on each the fast verdict is compared with jsonschema's own.
"""

from __future__ import annotations

import copy
import functools
import json
import random
import subprocess
import sys
from typing import Any

import pytest
import yaml

from bench.gen_manifest import manifest as generated_manifest
from jogg_flow.errors import ManifestError
from jogg_flow.manifest import _schema_fast, loader, schema

from .conftest import ROOT

SEED_FILES = sorted((ROOT / "manifests").glob("*.yaml")) + sorted((ROOT / "tests/fixtures/invalid").glob("*.yaml"))
Json = Any  # a document as YAML loads it: dicts, lists and scalars
Place = tuple[str | int, ...]  # the keys and indexes down to one node
# Values a user might write by mistake, and the shapes patterns and types trip on.
ODD: list[Json] = [
    None, 0, -1, 1, 2, 37, 1.5, True, False, "", " ", "x", "x\n", "\nx", "12", "12\n", "9:16", "16:9",
    "portrait", "english", "https://a.example/p", "https://a.example/p\n", "https://a\x1cb",
    "https://a\u2028b", "http://", "ftp://a.example", "{{ vars.x }}", "{% if x %}y{% endif %}",
    "20/60s", "20/60s\n", "0/60s", "a" * 70, "Ab-c_1.2", "p1", "p 1", "api_key", [], {}, ["x"], {"x": 1},
    [{}], 10**30, "é", "TOKEN", "A_B", "a\tb", "v1", "v2", "open", "common", "user"]
KEYS = ["key", "url", "name", "variants", "details", "render", "media", "tags", "api", "version", "env",
        "vars", "defaults", "products", "lang", "aspect_ratio", "avatar_id", "title", "api_key", "kee",
        "post_rate", "base_url", "voice_id", "render_subtitle", "template_type", 1, "x"]


@functools.cache
def _seeds() -> list[object]:
    out: list[object] = [yaml.safe_load(generated_manifest(3))]
    for path in SEED_FILES:
        try:  # our own loader: bounded, so the YAML bombs among the fixtures stay small
            data = loader.load(str(path)).data
        except ManifestError:
            continue
        if isinstance(data, dict) and len(json.dumps(data, default=str)) < 20_000:
            out.append(data)
    return out


def _places(node: Json, path: Place = ()) -> list[Place]:
    found = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _places(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _places(v, path + (i,))
    return found


def _get(node: Json, path: Place) -> Json:
    for step in path:
        node = node[step]
    return node


def _mutate(doc: Json, rng: random.Random) -> Json:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(_places(doc))
        if not path:
            continue
        parent, last = _get(doc, path[:-1]), path[-1]
        value = _get(doc, path)
        roll = rng.random()
        if roll < 0.35:
            parent[last] = copy.deepcopy(rng.choice(ODD))
        elif roll < 0.5 and isinstance(value, str):
            parent[last] = rng.choice([value + "\n", value + "\x1c", " " + value, value.upper(), value[:1]])
        elif roll < 0.65:
            del parent[last]
        elif roll < 0.8 and isinstance(value, dict):
            value[rng.choice(KEYS)] = copy.deepcopy(rng.choice(ODD))
        elif roll < 0.9 and isinstance(value, list) and value:
            value.append(copy.deepcopy(rng.choice(value)))
        else:
            parent[last] = [value] if rng.random() < 0.5 else {"x": value}
    return doc


def _jsonschema_ok(data: object) -> bool:
    return not any(True for _ in schema._root().iter_errors(data))


def test_generated_validator_matches_the_shipped_schema():
    # A schema edit without regenerating only costs time (it is then compiled at run time),
    # but say so: `python -m jogg_flow.manifest.schema` rewrites jogg_flow/manifest/_schema_fast.py.
    assert _schema_fast.SCHEMA_SHA256 == schema.digest(), "run: python -m jogg_flow.manifest.schema"
    assert schema._fast() is _schema_fast.validate


def _compare(seed: int, count: int) -> None:
    rng = random.Random(seed)
    seeds = _seeds()
    assert len(seeds) > 20, len(seeds)
    fast = schema._fast()
    verdicts = {"both ok": 0, "both refused": 0}
    for _ in range(count):
        doc = _mutate(rng.choice(seeds), rng)
        fast_ok, slow_ok = schema._passes(fast, doc), _jsonschema_ok(doc)
        assert fast_ok == slow_ok, (fast_ok, doc)
        verdicts["both ok" if slow_ok else "both refused"] += 1
    assert verdicts["both refused"] > count // 3 and verdicts["both ok"] > count // 50, verdicts


@pytest.mark.parametrize("seed", range(4))
def test_same_verdict_as_jsonschema_on_thousands_of_broken_manifests(seed):
    _compare(seed, 3000)  # about a second each


def test_compiled_at_run_time_agrees_too():
    # What runs when the generated module is stale: the same compiler, from the schema itself.
    rng = random.Random(99)
    compiled = schema._compile(schema._schema())
    assert compiled is not None
    seeds = _seeds()
    for _ in range(1000):
        doc = _mutate(rng.choice(seeds), rng)
        assert schema._passes(compiled, doc) == _jsonschema_ok(doc), doc


@pytest.mark.parametrize("path", [("products", 0, "details", "title"), ("products", 3, "url"),
                                  ("products", 1, "render", "aspect_ratio"), ("products", 0, "key"),
                                  ("defaults", "render", "lang"), ("products", 2, "variants", 0, "name"),
                                  ("name",)])
def test_templated_values_take_the_fast_path_with_the_same_verdict(path):
    for value in ODD:
        fast = schema._fast_at(tuple(0 if isinstance(p, int) else p for p in path))
        slow = schema._validator_at(tuple(0 if isinstance(p, int) else p for p in path))
        assert fast is not None and slow is not None
        assert schema._passes(fast, value) == (not any(True for _ in slow.iter_errors(value))), (path, value)


def test_without_fastjsonschema_every_message_is_unchanged():
    files = [str(p) for p in sorted((ROOT / "tests/fixtures/invalid").glob("*.yaml"))]
    files += [str(p) for p in sorted((ROOT / "manifests").glob("*.yaml"))]
    block = "import sys; sys.modules['fastjsonschema'] = None; from jogg_flow.cli import main; main()"
    runs = [subprocess.run([sys.executable, *args, "validate", *files], capture_output=True, text=True,
                           cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
            for args in (["-m", "jogg_flow"], ["-c", block])]
    assert runs[0].returncode == runs[1].returncode == 3
    assert runs[0].stderr == runs[1].stderr and runs[0].stdout == runs[1].stdout
    assert "did you mean" in runs[0].stderr and "Traceback" not in runs[1].stderr
