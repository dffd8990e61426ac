"""A feed's content hash in the state: plan says when a feed changed since the last apply."""

from __future__ import annotations

import shutil

from tests.conftest import ROOT


def _shop(tmp_path):
    shutil.copy(ROOT / "manifests" / "shop-csv.yaml", tmp_path / "shop.yaml")
    shutil.copytree(ROOT / "manifests" / "feeds", tmp_path / "feeds")
    return str(tmp_path / "shop.yaml"), tmp_path / "feeds" / "catalog.csv"


def test_plan_names_a_feed_that_changed_since_the_last_apply(run, tmp_path):
    manifest, feed = _shop(tmp_path)
    applied = run("apply", manifest, "--sandbox", "-q")
    assert applied.exit_code == 0, applied.stderr
    same = run("plan", manifest, "--sandbox")
    assert same.exit_code == 0 and "changed since the last apply" not in same.stderr
    assert "replace" not in same.stdout

    feed.write_text(feed.read_text().replace("PowerBlend 3000,", "PowerBlend 3000 Pro,", 1))
    moved = run("plan", manifest, "--sandbox")
    assert moved.exit_code == 0, moved.stderr
    assert "feed feeds/catalog.csv changed since the last apply (sha256:" in moved.stderr
    assert "replace    powerblend-3000/tiktok" in moved.stdout

    again = run("apply", manifest, "--sandbox", "-q")  # the new content is what the state now knows
    assert again.exit_code == 0, again.stderr
    assert "changed since the last apply" not in run("plan", manifest, "--sandbox").stderr


def test_a_selected_apply_does_not_claim_the_whole_feed(run, tmp_path):
    manifest, feed = _shop(tmp_path)
    assert run("apply", manifest, "--sandbox", "-q").exit_code == 0
    feed.write_text(feed.read_text().replace("PowerBlend 3000,", "PowerBlend 3000 Pro,", 1))
    partial = run("apply", manifest, "--sandbox", "-q", "--select", "desk-lamp-arc")
    assert partial.exit_code == 0, partial.stderr
    assert "feed feeds/catalog.csv changed" in run("plan", manifest, "--sandbox").stderr
