"""Real `jogg-flow apply` processes killed with SIGKILL and SIGINT, then resumed."""

from __future__ import annotations

import signal

import pytest

from bench.campaigns import GENERATIONS, READS_EVIDENCE, _start, check_done, crash, write_manifest
from jogg_flow.sandbox import Config, Sandbox
from jogg_flow.state import State


@pytest.mark.parametrize("version", GENERATIONS)
def test_sigkill_at_random_instants_never_renders_twice(tmp_path, version):
    # Renders read "start" for 2 real seconds, the runs re-render what never left after 6.
    figures = crash(str(tmp_path), kills=4, seed=7, n=40, version=version, start_seconds=120.0)
    assert figures["duplicate_renders"] == 0 and figures["renders"] == 40
    _settled_alone(figures)


def _settled_alone(figures: dict[str, object]) -> None:
    """Under open and v2 every needs-check was settled by later applies alone."""
    if figures["api"] in READS_EVIDENCE:
        assert figures["needs_check_after_last_apply"] == 0 and figures["needs_check_settled_by_user"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("version", GENERATIONS)
def test_sigkill_campaign(tmp_path, seed, version):
    figures = crash(str(tmp_path), kills=25, seed=seed, n=120, version=version)
    print(figures)  # the needs-check counts after the first and the last apply (-s shows them)
    assert figures["duplicate_renders"] == 0
    _settled_alone(figures)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_saves_state_and_exits_130_then_resumes(tmp_path, sig, spawn):
    state, manifest = str(tmp_path / "state.json"), write_manifest(str(tmp_path), 6)
    with Sandbox(Config(time_scale=60.0, render_seconds=60.0)) as sb:
        proc = _start(sb.url, manifest, state, spawn)
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until renders are being submitted
            if '"step": "render"' in line:
                break
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert State.load(state).videos
        final = _start(sb.url, manifest, state, spawn)
        _, err = final.communicate(timeout=60)
        assert final.returncode == 0, err
        check_done(state, sb.stats(), 6)
