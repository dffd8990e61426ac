"""No reading spends credits again: a failed render is kept until the user asks, a
"not found" while reading an accepted render is read again (never a second render), a
definite refusal of a render is sent once by the next apply (never a needs-check), and no
credit left stops submitting at once. Against the sandbox, per API generation."""

from __future__ import annotations

import json

import pytest

from jogg_flow.sandbox import Config, Fault, Sandbox
from jogg_flow.state import State
from tests.conftest import FAKE_KEY
from tests.test_ci_output import EVENTS

FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2", "--output", "json")
RENDER = {"open": "POST /open/project/render", "v1": "POST /v1/create_video_from_url",
          "v2": "POST /v2/create_video_from_product"}
STATUS = {"open": "GET /open/prj_info", "v1": "GET /v1/project", "v2": "GET /v2/product_video/*"}
GENERATIONS = ("open", "v1", "v2")


def manifest_text(version: str, n: int = 1) -> str:
    return f"version: 1\napi: {{version: {version}}}\nproducts:\n" + "".join(
        f"  - {{key: p{i}, url: 'https://shop.example/{i}', render: {{avatar_id: 37}}}}\n" for i in range(n))


def sandbox(*faults: Fault, **kw) -> Sandbox:
    return Sandbox(Config(time_scale=60.0, render_seconds=6.0, faults=list(faults), **kw))


def apply(run, manifest, sb, state, *extra):
    result = run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST, *extra,
                 env={"JOGG_API_KEY": FAKE_KEY})
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    for event in events:
        EVENTS.validate(event)
    return result, {e["key"]: e["status"] for e in events if e["event"] == "video"}


def renders(sb) -> int:
    return int(sb.stats()["renders_accepted"])


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_failed_render_is_not_rendered_again_until_the_user_asks(run, write, tmp_path, version):
    manifest, state = write("m.yaml", manifest_text(version)), str(tmp_path / "s.json")
    with sandbox(Fault("render_fail", RENDER[version])) as sb:
        result, outcomes = apply(run, manifest, sb, state)
        assert (result.exit_code, outcomes, renders(sb)) == (1, {"p0": "failed"}, 1)

        again, outcomes = apply(run, manifest, sb, state)  # before: rendered (and paid) again
        assert (again.exit_code, outcomes, renders(sb)) == (1, {"p0": "failed"}, 1)
        assert f"apply {manifest} --retry-failed --select p0" in again.stderr

        plan = run("plan", manifest, "--state", state, "--api-base", sb.url)
        assert "x failed     p0  (Render failed" in plan.stdout, plan.stdout
        assert "--retry-failed" in plan.stdout and "Estimate" not in plan.stdout
        asked = run("plan", manifest, "--state", state, "--api-base", sb.url, "--retry-failed")
        assert "! retry" in asked.stdout and "Estimate: 1 render" in asked.stdout

        final, outcomes = apply(run, manifest, sb, state, "--retry-failed")
        assert (final.exit_code, outcomes, renders(sb)) == (0, {"p0": "succeeded"}, 2)


def test_a_saved_plan_keeps_its_retry_failed_choice(run, write, tmp_path):
    manifest, state = write("m.yaml", manifest_text("v2")), str(tmp_path / "s.json")
    with sandbox(Fault("render_fail", RENDER["v2"])) as sb:
        apply(run, manifest, sb, state)
        saved = str(tmp_path / "plan.json")
        kept = run("plan", manifest, "--state", state, "--api-base", sb.url, "--out", saved)
        assert kept.exit_code == 0
        refused = run("apply", saved, "--state", state, "--api-base", sb.url, "--retry-failed",
                      env={"JOGG_API_KEY": FAKE_KEY})
        assert refused.exit_code == 3 and "--retry-failed cannot be used with" in refused.stderr
        run("plan", manifest, "--state", state, "--api-base", sb.url, "--retry-failed", "--out", saved)
        result, outcomes = apply(run, saved, sb, state)
        assert (result.exit_code, outcomes, renders(sb)) == (0, {"p0": "succeeded"}, 2)


@pytest.mark.parametrize("version", GENERATIONS)
def test_one_record_not_found_on_a_status_read_never_leads_to_a_second_render(run, write, tmp_path, version):
    manifest, state = write("m.yaml", manifest_text(version)), str(tmp_path / "s.json")
    with sandbox(Fault("code_10104", STATUS[version])) as sb:
        result, outcomes = apply(run, manifest, sb, state)
        assert (result.exit_code, outcomes) == (0, {"p0": "succeeded"}), result.stderr
        again, outcomes = apply(run, manifest, sb, state)
        assert (again.exit_code, outcomes, renders(sb)) == (0, {"p0": "up-to-date"}, 1)


@pytest.mark.parametrize("version", GENERATIONS)
def test_not_found_on_every_status_read_ends_as_needs_check_never_failed(run, write, tmp_path, version):
    manifest, state = write("m.yaml", manifest_text(version)), str(tmp_path / "s.json")
    with sandbox(Fault("code_10104", STATUS[version], times=0)) as sb:
        result, outcomes = apply(run, manifest, sb, state)
        assert (result.exit_code, outcomes) == (1, {"p0": "needs-check"})
        assert "answered 'not found' 8 times" in State.load(state).videos["p0"]["error"]
        assert f"state adopt {manifest} p0" in result.stderr
        again, outcomes = apply(run, manifest, sb, state)
        assert (again.exit_code, outcomes, renders(sb)) == (1, {"p0": "needs-check"}, 1)


@pytest.mark.parametrize("version", ["open", "v2"])
def test_a_bare_404_on_one_videos_status_read_does_not_stop_the_others(run, write, tmp_path, version):
    manifest, state = write("m.yaml", manifest_text(version, 3)), str(tmp_path / "s.json")
    with sandbox(Fault("html_404", STATUS[version])) as sb:
        result, outcomes = apply(run, manifest, sb, state)
        assert result.exit_code == 0, result.stderr
        assert outcomes == {"p0": "succeeded", "p1": "succeeded", "p2": "succeeded"}
        assert renders(sb) == 3


@pytest.mark.parametrize("version", GENERATIONS)
@pytest.mark.parametrize("refusal", ["code_18020", "code_40000", "code_10105", "code_18025",
                                     "bare_401", "bare_403"])
def test_a_refused_render_is_sent_once_by_the_next_apply(run, write, tmp_path, version, refusal):
    manifest, state = write("m.yaml", manifest_text(version)), str(tmp_path / "s.json")
    with sandbox(Fault(refusal, RENDER[version])) as sb:
        result, outcomes = apply(run, manifest, sb, state)
        assert (result.exit_code, outcomes, renders(sb)) == (1, {"p0": "error"}, 0)
        record = State.load(state).videos["p0"]
        assert "render" not in record["steps"] and record["refused"]["step"] == "render"
        plan = run("plan", manifest, "--state", state, "--api-base", sb.url)
        assert "next: render (JoggAI refused it last time" in plan.stdout, plan.stdout

        again, outcomes = apply(run, manifest, sb, state)  # before: needs-check, nothing sent
        assert (again.exit_code, outcomes, renders(sb)) == (0, {"p0": "succeeded"}, 1), again.stderr
        assert "needs-check" not in again.stdout + again.stderr
        assert sb.stats()["requests"][RENDER[version]] == 2


@pytest.mark.parametrize("version", GENERATIONS)
def test_no_credit_mid_run_stops_submitting_and_collects_what_was_accepted(run, write, tmp_path, version):
    manifest, state = write("m.yaml", manifest_text(version, 5)), str(tmp_path / "s.json")
    with sandbox(credits=2) as sb:
        result, outcomes = apply(run, manifest, sb, state, "--parallelism", "1", "--allow-partial")
        assert result.exit_code == 1
        assert sorted(outcomes.values()) == ["error", "pending", "pending", "succeeded", "succeeded"]
        assert sb.stats()["requests"][RENDER[version]] == 3  # nothing sent after the 18020
        assert "3 videos not rendered, needing about 3 credits" in result.stderr
        assert "not sent: submitting stopped (Insufficient credit); the next apply renders it" in result.stdout

        with sb.backend.lock:
            sb.backend.credits = 10  # topped up
        again, outcomes = apply(run, manifest, sb, state)
        assert again.exit_code == 0, again.stderr
        assert set(outcomes.values()) == {"succeeded", "up-to-date"} and renders(sb) == 5
        assert "needs-check" not in again.stdout + again.stderr


def test_the_v1_preflight_says_joggai_documents_no_credit_read(run, write, tmp_path):
    manifest, state = write("m.yaml", manifest_text("v1")), str(tmp_path / "s.json")
    with sandbox() as sb:
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST,
                     env={"JOGG_API_KEY": FAKE_KEY})
        (pre,) = [json.loads(line) for line in result.stdout.splitlines() if '"preflight"' in line]
        assert "credit left unknown (JoggAI documents no credit read for api.version v1)" in pre["message"]
        assert pre["credits_needed"] == 1  # the plan's estimate is all there is
        check = run("plan", manifest, "--state", state, "--api-base", sb.url, "--check",
                    env={"JOGG_API_KEY": FAKE_KEY})
        assert "JoggAI documents no credit read for api.version v1" in check.stderr


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_product_gone_at_joggai_is_not_lent_back_by_a_sibling_variant(run, write, tmp_path, version):
    """10104 on a render POST: nothing was charged, and the next apply starts from a fresh
    product, not from the gone one a finished sibling variant still names."""
    manifest = write("m.yaml", f"version: 1\napi: {{version: {version}}}\nproducts:\n"
                     "  - key: a\n    url: https://shop.example/a\n    render: {avatar_id: 37}\n"
                     "    variants: [{name: x}, {name: y}]\n")
    state = str(tmp_path / "s.json")
    with sandbox(Fault("code_40000", RENDER[version], skip=1)) as sb:  # a/y's render is refused
        result, outcomes = apply(run, manifest, sb, state, "--parallelism", "1")
        assert outcomes == {"a/x": "succeeded", "a/y": "error"}
        with sb.backend.lock:
            sb.backend.v2_products.clear()  # JoggAI lost the product meanwhile
        result, outcomes = apply(run, manifest, sb, state)
        assert (result.exit_code, outcomes["a/y"]) == (1, "error")
        assert "the next apply starts from a fresh product" in result.stdout
        result, outcomes = apply(run, manifest, sb, state)
        assert (result.exit_code, outcomes["a/y"]) == (0, "succeeded"), result.stdout
        assert sb.stats()["products_created"] == 2 and renders(sb) == 2
