"""Faults in combination: every run completes or stops with a clear error; never a second
render for a video, never a lost answer."""

from __future__ import annotations

import pytest

from bench.campaigns import GENERATIONS, faults, readings


@pytest.mark.parametrize("version", GENERATIONS)
def test_fault_mix_small(tmp_path, version):
    figures = faults(str(tmp_path), seed=3, n=6, version=version)
    assert figures["duplicate_renders"] == 0 and sum(figures["faults"].values()) > 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("version", GENERATIONS)
def test_fault_mix_campaign(tmp_path, seed, version):
    assert faults(str(tmp_path), seed=seed, n=20, version=version)["duplicate_renders"] == 0


# open is left out until #12's readings land: its lost-answer check reads status 1 as "never
# rendered", which the realistic sandbox shows for a while after acceptance.
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_fault_mix_small_realistic(tmp_path, version):
    figures = faults(str(tmp_path), seed=3, n=6, version=version, real=True)
    assert figures["duplicate_renders"] == 0 and figures["realistic"]


@pytest.mark.parametrize("version", GENERATIONS)
def test_readings_never_spend_again(tmp_path, version):
    """Refusals of the render POST, spurious 10104s and bare 404s while polling, and failed
    renders over repeated applies: every render beyond one per video is one the user asked
    for (#21)."""
    figures = readings(str(tmp_path), seed=1, n=6, version=version)
    assert figures["renders_spent_by_readings"] == 0 and figures["duplicate_renders"] == 0
    assert figures["faults"].get("code_10104", 0) > 0
