"""The planner is a pure function of desired videos and recorded state."""

from __future__ import annotations

import pytest

from jogg_flow.engine.planner import changed_fields, counts, estimate, plan, selected
from jogg_flow.manifest import Video


def video(key="a", url="https://x.example/a", details=None, render=None, tags=("t",)):
    return Video(key=key, product=key.split("/")[0], variant=None, url=url, tags=tags,
                 details=details or {}, render=render or {"lang": "english"}, index=0)


def record(v: Video, **kw):
    return {"key": v.key, "tags": list(v.tags), "inputs": v.inputs(), "steps": {}, "status": "new", **kw}


@pytest.mark.parametrize("rec, action, detail", [
    (None, "create", ""),
    ({"status": "succeeded", "steps": {"create": "done", "render": "done"}}, "up-to-date", ""),
    ({"status": "failed", "remote": {"err_msg": "boom"}}, "failed", "boom"),
    ({"status": "rendering", "steps": {"create": "done", "render": "done"}}, "wait", ""),
    ({"status": "new", "steps": {"create": "done"}}, "resume", "next: render"),
    ({"status": "new", "steps": {"create": "inflight"}}, "resume", "next: create, render"),
    ({"status": "new", "steps": {"create": "done", "render": "inflight"}}, "resume",
     "next: look for the render sent before; never sent twice"),
])
def test_action_per_recorded_status(rec, action, detail):
    v = video()
    records = {} if rec is None else {"a": record(v, **rec)}
    (item,) = plan([v], records)
    assert (item.action, item.detail) == (action, detail)


def test_a_failed_render_is_retried_only_when_asked():
    v = video()
    records = {"a": record(v, status="failed", remote={"err_msg": "boom"})}
    assert [i.action for i in plan([v], records)] == ["failed"]
    assert [i.action for i in plan([v], records, retry_failed=True)] == ["retry"]
    assert estimate(plan([v], records), records, True).renders == 0
    assert estimate(plan([v], records, retry_failed=True), records, True).renders == 1


def test_resume_lists_update_only_when_details_are_set():
    v = video(details={"title": "T"})
    (item,) = plan([v], {"a": record(v, steps={"create": "done"})})
    assert item.detail == "next: update, render"


def test_changed_inputs_replace_whatever_the_status_and_name_the_fields():
    old = video(render={"lang": "english", "aspect_ratio": 0}, details={"title": "A"})
    new = video(url="https://x.example/b", render={"lang": "german", "aspect_ratio": 0},
                details={"title": "A", "intro_text": "I"})
    for status in ("succeeded", "failed", "rendering", "new"):
        (item,) = plan([new], {"a": record(old, status=status)})
        assert item.action == "replace"
        assert item.changes == ("details.intro_text", "render.lang", "url")


def test_orphans_are_listed_and_selection_applies_to_them():
    v = video()
    records = {"a": record(v, status="succeeded"), "gone": {"tags": ["old"], "status": "succeeded"}}
    assert [(i.key, i.action) for i in plan([v], records)] == [("a", "up-to-date"), ("gone", "orphaned")]
    assert [i.key for i in plan([v], records, ["tag:old"])] == ["gone"]
    assert counts(plan([v], records)) == {"up-to-date": 1, "orphaned": 1}


def test_selection_by_glob_product_and_tag():
    assert selected("blender/tiktok", (), ["blender"])  # a product selects its variants
    assert selected("blender/tiktok", (), ["*/tiktok"])
    assert selected("lamp", ("office", "gift"), ["tag:gi*"])
    assert not selected("lamp", ("office",), ["tag:kitchen", "blender*"])
    assert selected("anything", (), [])


def test_changed_fields_on_whole_sections():
    assert changed_fields({"details": {}}, {"details": {"title": "x"}}) == ("details.title",)
    assert changed_fields({}, {"url": "u"}) == ("url",)
    assert changed_fields({"render": {"a": 1}}, {"render": {"a": 1}}) == ()


def test_needs_check_wins_over_a_changed_manifest():
    v = video()
    rec = record(v, status="needs-check", error="lost", steps={"create": "done", "render": "inflight"})
    changed = video(render={"lang": "german"})
    (item,) = plan([changed], {"a": rec})
    assert (item.action, item.detail) == ("needs-check", "lost")
    assert counts([item]) == {"needs-check": 1}


def test_estimate_counts_shared_products_once():
    from jogg_flow.engine.planner import estimate

    variants = [Video(key=f"m/{n}", product="m", variant=n, url="https://x.example/m", tags=(),
                      details={"title": "M"}, render={"lang": lang}, index=0)
                for n, lang in (("a", "english"), ("b", "german"), ("c", "french"))]
    items = plan(variants, {})
    assert estimate(items, {}, shares_products=True).posts == 4
    assert estimate(items, {}, shares_products=False).posts == 6
    # One variant done already: the others reuse its product.
    done = {"m/a": {**record(variants[0]), "status": "succeeded", "product_id": "P",
                    "steps": {"create": "done", "render": "done"}}}
    est = estimate(plan(variants, done), done, shares_products=True)
    assert (est.renders, est.credits, est.posts) == (2, 2, 2)
    assert est.post_seconds((20, 60.0)) == 60.0


def test_a_replace_carries_old_and_new_values_absent_as_none():
    old = video(render={"lang": "english"}, details={"title": "A", "intro_text": "I"})
    new = video(render={"lang": "german", "aspect_ratio": 0}, details={"title": "A"})
    (item,) = plan([new], {"a": record(old, status="succeeded")})
    assert [(c.field, c.old, c.new) for c in item.diff] == [
        ("details.intro_text", "I", None), ("render.aspect_ratio", None, 0), ("render.lang", "english", "german")]
    assert item.changes == tuple(c.field for c in item.diff)
    assert item.as_dict()["changes"] == list(item.changes) and "diff" not in item.as_dict()
    assert item.as_dict(values=True)["diff"][2] == {"field": "render.lang", "old": "english", "new": "german"}
