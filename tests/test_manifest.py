"""What a valid manifest turns into: rendered, merged, normalised videos."""

from __future__ import annotations

import json

import jsonschema
import pytest

from jogg_flow.manifest import load_manifest, schema
from tests.conftest import ROOT


def test_examples_validate(run):
    result = run("validate", *(str(p) for p in sorted((ROOT / "manifests").glob("*.yaml"))))
    assert result.exit_code == 0, result.stderr
    assert "spring-launch.yaml: ok (4 videos)" in result.output


def test_defaults_merge_under_products_and_variants(write):
    path = write("m.yaml", """
        version: 1
        env: [AUD]
        vars:
          brand: Acme
          full: "{{ vars.brand }} Inc."
        defaults:
          details: {target_audience: "{{ env.AUD | default('parents') }}"}
          render: {lang: english, aspect_ratio: portrait, avatar_id: "{{ 30 + 7 }}"}
        products:
          - key: lamp
            url: https://shop.example/lamp
            tags: [office]
            details: {title: "{{ vars.full }} {{ product.key }}"}
            render: {lang: german}
            variants:
              - name: square
                render: {aspect_ratio: "1:1"}
                details: {title: "{{ product.key }} {{ variant.name }}"}
              - name: wide
                render: {aspect_ratio: 1, render_subtitle: "false"}
        """)
    m = load_manifest(path, environ={"AUD": "students"})
    assert m.name == "m"
    square, wide = m.videos
    assert square.key == "lamp/square" and wide.key == "lamp/wide"
    assert square.details == {"target_audience": "students", "title": "lamp square"}
    assert wide.details == {"target_audience": "students", "title": "Acme Inc. lamp"}
    assert square.render == {"lang": "german", "aspect_ratio": 2, "avatar_id": 37}
    assert wide.render == {"lang": "german", "aspect_ratio": 1, "avatar_id": 37,
                           "render_subtitle": 0}
    assert square.tags == ("office",)


def test_media_urls_become_api_objects(write):
    path = write("m.yaml", """
        version: 1
        products:
          - key: a
            url: https://shop.example/a
            details:
              intro_medias:
                - https://cdn.example/a/front.JPG
                - https://cdn.example/a/demo.mp4?sig=1
                - {url: "https://cdn.example/a/x", type: video, name: Demo, description: Spin}
        """)
    (video,) = load_manifest(path, environ={}).videos
    assert video.details["intro_medias"] == [
        {"type": 1, "url": "https://cdn.example/a/front.JPG", "name": "front.JPG"},
        {"type": 2, "url": "https://cdn.example/a/demo.mp4?sig=1", "name": "demo.mp4"},
        {"type": 2, "url": "https://cdn.example/a/x", "name": "Demo", "description": "Spin"},
    ]


def test_per_product_templates_are_not_cached_across_products(write):
    path = write("m.yaml", """
        version: 1
        defaults:
          details: {title: "{{ product.key | upper }} for {{ vars.who }}"}
        vars: {who: you}
        products:
          - {key: a, url: "https://shop.example/a"}
          - {key: b, url: "https://shop.example/{{ product.key if product is defined else 'b' }}"}
        """)
    a, b = load_manifest(path, environ={}).videos
    assert a.details["title"] == "A for you"
    assert b.details["title"] == "B for you"
    assert b.url == "https://shop.example/b"


def test_a_setting_only_defaults_give_is_the_same_for_every_video_but_never_shared(write):
    path = write("m.yaml", """
        version: 1
        vars: {brand: Acme}
        defaults:
          details:
            intro_text: "{{ vars.brand | upper }} quality"
            intro_medias: [https://cdn.example/a.jpg]
            title: "{{ product.key }} by {{ vars.brand }}"
          render: {lang: english, avatar_id: "{{ 30 + 7 }}"}
        products:
          - {key: a, url: "https://shop.example/a"}
          - {key: b, url: "https://shop.example/b", render: {lang: german}}
          - {key: c, url: "https://shop.example/c"}
        """)
    a, b, c = load_manifest(path, environ={}).videos
    assert [v.details["title"] for v in (a, b, c)] == ["a by Acme", "b by Acme", "c by Acme"]
    assert a.details["intro_text"] == c.details["intro_text"] == "ACME quality"
    assert a.render == c.render == {"lang": "english", "avatar_id": 37}
    assert b.render == {"lang": "german", "avatar_id": 37}
    a.details["intro_medias"][0]["name"] = "changed"  # each video holds its own copy
    a.render["lang"] = "changed"
    assert c.details["intro_medias"][0]["name"] == "a.jpg" and c.render["lang"] == "english"


def test_template_with_braces_inside_a_string_literal_still_renders(write):
    path = write("m.yaml", """
        version: 1
        products:
          - key: a
            url: https://shop.example/a
            details: {title: "{{ '}}' ~ product.key }}", intro_text: "{% if true %}yes{% endif %}"}
        """)
    (video,) = load_manifest(path, environ={}).videos
    assert video.details == {"title": "}}a", "intro_text": "yes"}


def test_friendly_forms_are_normalised(write):
    forms = {"9:16": 0, "portrait": 0, 0: 0, "16:9": 1, "landscape": 1, "1:1": 2, "square": 2,
             "2": 2}
    for given, expected in forms.items():
        path = write("m.yaml", f"""
            version: 1
            products:
              - key: a
                url: https://shop.example/a
                render: {{aspect_ratio: {json.dumps(given)}, render_subtitle: 1}}
            """)
        (video,) = load_manifest(path, environ={}).videos
        assert video.render == {"aspect_ratio": expected, "render_subtitle": 1}, given


def test_schema_command_prints_the_shipped_schema(run):
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(
        (ROOT / "schemas" / "manifest.schema.json").read_text())


def test_plan_without_state_creates_everything(run):
    result = run("plan", "--output", "json", str(ROOT / "manifests" / "spring-launch.yaml"),
                 "--state", "/nonexistent-dir/never-written.json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["counts"] == {"create": 4}
    assert [i["key"] for i in plan["items"]] == ["blender/tiktok", "blender/youtube-es",
                                                 "kettle", "desk-lamp"]


def test_plan_select_by_tag_and_glob(run, tmp_path):
    manifest = str(ROOT / "manifests" / "spring-launch.yaml")
    state = str(tmp_path / "s.json")
    result = run("plan", manifest, "--state", state, "--select", "tag:office", "--select", "blender/t*")
    assert result.exit_code == 0
    assert "blender/tiktok" in result.output and "desk-lamp" in result.output
    assert "kettle" not in result.output and "youtube" not in result.output
    nothing = run("plan", manifest, "--state", state, "--select", "nope*")
    assert nothing.exit_code == 3
    assert "matches no video" in nothing.stderr


def test_plan_detailed_exitcode(run, tmp_path):
    result = run("plan", str(ROOT / "manifests" / "minimal.yaml"), "--state",
                 str(tmp_path / "s.json"), "--detailed-exitcode")
    assert result.exit_code == 2


def test_unknown_option_is_a_usage_error_exit_3(run):
    result = run("validate", "--bogus", "x.yaml")
    assert result.exit_code == 3


@pytest.mark.parametrize("where, good", [
    (("properties", "name"), "spring-launch"),
    (("properties", "env", "items"), "REGION"),
    (("properties", "vars", "propertyNames"), "brand"),
    (("$defs", "http_url", "anyOf", 0), "https://x.example/a"),
    (("$defs", "rate", "anyOf", 0), "20/60s"),
    (("$defs", "product", "properties", "key"), "blender"),
    (("$defs", "product", "properties", "tags", "items"), "spring"),
    (("$defs", "variant", "properties", "name"), "tiktok"),
])
def test_name_patterns_refuse_a_trailing_newline(where, good):
    # jsonschema applies `pattern` with re.search, where a bare `$` also matches before a
    # final newline; the schema's `$(?!\n)` works there and in editors' ECMA regexes alike.
    node = json.loads(schema.text())
    for step in where:
        node = node[step]
    validator = jsonschema.Draft202012Validator({"type": "string", "pattern": node["pattern"]})
    assert validator.is_valid(good)
    assert not validator.is_valid(good + "\n")
