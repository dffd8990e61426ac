"""Cost you can see: what JoggAI deducted per render (v2's `deducted_credit`) is
recorded and shown by outputs (text, json, csv, gallery), summed in the run's summary and the
GitHub step summary beside the plan's estimate; `--max-credits` refuses a plan that would
spend more and stops submitting at it."""

from __future__ import annotations

import csv
import io
import json

from jogg_flow.sandbox import Config, Sandbox
from jogg_flow.state import State
from tests.conftest import FAKE_KEY

FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2")


def manifest_text(version: str, n: int) -> str:
    return f"version: 1\napi: {{version: {version}}}\nproducts:\n" + "".join(
        f"  - {{key: p{i}, url: 'https://shop.example/{i}', render: {{avatar_id: 37}}}}\n" for i in range(n))


def test_v2_deducted_credit_is_recorded_shown_and_summed(run, write, tmp_path):
    manifest, state = write("m.yaml", manifest_text("v2", 2)), str(tmp_path / "s.json")
    summary = tmp_path / "summary.md"
    env = {"JOGG_API_KEY": FAKE_KEY, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    with Sandbox(Config(time_scale=60.0, render_seconds=6.0)) as sb:
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST, "--output", "json",
                     env=env)
        assert result.exit_code == 0, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        assert [e["credits"] for e in events if e["event"] == "video"] == [1.0, 1.0]
        (done,) = [e for e in events if e["event"] == "summary"]
        assert (done["credits_charged"], done["credits_estimated"]) == (2.0, 2)
        assert done["message"] == "2 succeeded"
        assert all(r["credits"] == 1.0 for r in State.load(state).videos.values())
        assert "| `p0` | succeeded | 1 |" in summary.read_text()
        assert "Credits: 2 deducted by JoggAI; the plan's estimate: 2." in summary.read_text()

        as_json = run("outputs", manifest, "--state", state, "--api-base", sb.url, "--output", "json")
        assert [row["credits"] for row in json.loads(as_json.stdout)] == [1.0, 1.0]
        as_csv = run("outputs", manifest, "--state", state, "--api-base", sb.url, "--output", "csv")
        assert [row["credits"] for row in csv.DictReader(io.StringIO(as_csv.stdout))] == ["1.0", "1.0"]
        text = run("outputs", manifest, "--state", state, "--api-base", sb.url)
        assert text.stdout.splitlines()[0].split()[-1] == "CREDITS"
        page = tmp_path / "g.html"
        run("outputs", manifest, "--state", state, "--api-base", sb.url, "--output", "html", "--out", str(page))
        assert "1 credit" in page.read_text()


def test_v1_says_joggai_reports_no_charge_beside_the_estimate(run, write, tmp_path):
    manifest, state = write("m.yaml", manifest_text("v1", 1)), str(tmp_path / "s.json")
    with Sandbox(Config(time_scale=60.0, render_seconds=6.0)) as sb:
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST, "--output", "json",
                     env={"JOGG_API_KEY": FAKE_KEY})
        (done,) = [json.loads(line) for line in result.stdout.splitlines() if '"summary"' in line]
        assert (done["credits_charged"], done["credits_estimated"]) == (None, 1)


def test_max_credits_refuses_a_plan_that_would_spend_more(run, write, tmp_path):
    manifest, state = write("m.yaml", manifest_text("v2", 3)), str(tmp_path / "s.json")
    with Sandbox(Config(time_scale=60.0, render_seconds=6.0)) as sb:
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST, "--max-credits", "2",
                     env={"JOGG_API_KEY": FAKE_KEY})
        assert result.exit_code == 1
        assert "this plan needs about 3 credits, over --max-credits 2: nothing was sent" in result.stderr
        assert sb.stats()["requests"] == {}  # not even the preflight
        ok = run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST, "--max-credits", "3",
                 env={"JOGG_API_KEY": FAKE_KEY})
        assert ok.exit_code == 0 and sb.stats()["renders_accepted"] == 3


def test_max_credits_stops_submitting_when_the_run_reaches_it(tmp_path, write):
    """The plan's estimate cannot see a render whose answer is lost and that is then adopted
    only by a later run; the run's own count is the last guard. Driven through the executor
    with a cap below its plan (the refusal above keeps the CLI from starting one)."""
    import threading

    from jogg_flow.api import client_class
    from jogg_flow.engine import planner
    from jogg_flow.engine.executor import Executor, Options
    from jogg_flow.manifest import load_manifest
    from jogg_flow.state import load as load_state

    manifest = load_manifest(write("m.yaml", manifest_text("v2", 4)), environ={})
    store = load_state(str(tmp_path / "s.json"), "m")
    with Sandbox(Config(time_scale=60.0, render_seconds=6.0)) as sb:
        client = client_class("v2")(sb.url, FAKE_KEY, stop=threading.Event())
        executor = Executor(client, store, Options(parallelism=1, poll_interval=0.05, poll_max=0.2,
                                                   max_renders=2), lambda e: None)
        outcomes = executor.run(planner.plan(manifest.videos, store.videos))
        client.close()
        assert sorted(o.status for o in outcomes) == ["pending", "pending", "succeeded", "succeeded"]
        assert sb.stats()["renders_accepted"] == 2
        assert executor.stopped_by() == "--max-credits 2 reached: 2 renders sent, nothing more submitted"


def test_the_text_summary_shows_the_cost_beside_the_estimate(run, write, tmp_path):
    manifest, state = write("m.yaml", manifest_text("v2", 1)), str(tmp_path / "s.json")
    with Sandbox(Config(time_scale=60.0, render_seconds=6.0)) as sb:
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST, "--heartbeat", "0",
                     env={"JOGG_API_KEY": FAKE_KEY})
        assert result.exit_code == 0
        assert "credits: 1 charged by JoggAI (the plan's estimate: 1)" in result.stderr
