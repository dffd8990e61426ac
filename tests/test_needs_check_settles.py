"""A needs-check settles itself when the evidence appears: every apply reads it again (free
reads) before anything else, and adopts a render JoggAI shows, never rendering it twice."""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any

import pytest

from bench.campaigns import write_manifest
from jogg_flow.sandbox import Config, Fault, Sandbox
from jogg_flow.state import State
from tests.conftest import FAKE_KEY


def _apply(run, manifest: str, state: str, url: str) -> tuple[int, list[dict[str, Any]]]:
    result = run("apply", manifest, "--api-base", url, "--state", state, "--poll-interval", "0.1", "--post-rate", "1000/1s",
                 "--poll-max", "0.2", "--output", "json", env={"JOGG_API_KEY": FAKE_KEY})
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, events


def _rounds(run, tmp_path, rounds: int) -> None:
    for n in range(rounds):
        # Accepted renders read "start" (status 1, as a never-started project does) for 2 s,
        # and every third render's answer is dropped after JoggAI carried it out.
        config = Config(time_scale=1.0, render_seconds=2.5, start_seconds=2.0, seed=n, post_limit=1000,
                        faults=[Fault("drop_after_commit", "POST /open/project/render", times=4, skip=1)])
        manifest = write_manifest(str(tmp_path), 12, "open", name=f"round{n}")
        state = str(tmp_path / f"round{n}.json")
        with Sandbox(config) as sb:
            code, _ = _apply(run, manifest, state, sb.url)
            checks = [k for k, r in State.load(state).videos.items() if r.get("status") == "needs-check"]
            assert code == 1 and checks, "the scenario must leave needs-check videos"
            listed = run("outputs", manifest, "--state", state, "--api-base", sb.url, "--output", "json")
            rows = {r["key"]: r for r in json.loads(listed.stdout)}
            assert all("(needs-check since 20" in rows[k]["message"] for k in checks)  # its age
            time.sleep(3.0)  # JoggAI's clock: the renders leave "start" meanwhile
            checked = run("plan", manifest, "--state", state, "--api-base", sb.url, "--check", "--output",
                          "json", env={"JOGG_API_KEY": FAKE_KEY})
            assert checked.exit_code == 0, checked.stderr
            assert sorted(json.loads(checked.stdout)["check"]["adoptable"]) == sorted(checks)
            assert State.load(state).videos[checks[0]]["status"] == "needs-check"  # plan writes nothing
            code, events = _apply(run, manifest, state, sb.url)
            assert code == 0, [e for e in events if e.get("event") == "video" and e["status"] != "succeeded"]
            adopted = {e["key"] for e in events if e["event"] == "adopted"}
            assert adopted == set(checks)
            summary = next(e for e in events if e["event"] == "summary")
            assert summary["adopted"] == len(checks) and "adopted after a check" in summary["message"]
            videos = State.load(state).videos
            assert {r["status"] for r in videos.values()} == {"succeeded"}
            assert all(any("adopted" in h for h in videos[k]["history"]) for k in checks)
            assert sb.stats()["renders_accepted"] == 12  # none rendered twice


def test_a_second_apply_adopts_what_the_first_left_in_needs_check(run, tmp_path):
    _rounds(run, tmp_path, 1)


@pytest.mark.slow
def test_three_rounds_of_lost_answers_all_settle_by_the_next_apply(run, tmp_path):
    _rounds(run, tmp_path, 3)


def test_v1_says_once_that_it_cannot_read_the_evidence(run, write, tmp_path):
    manifest = write("m.yaml", """
        version: 1
        api: {version: v1}
        defaults: {render: {avatar_id: 37}}
        products:
          - {key: a, url: "https://shop.example/a"}
          - {key: b, url: "https://shop.example/b"}
        """)
    state = tmp_path / "s.json"
    records: dict[str, dict[str, Any]] = {k: {"key": k, "status": "needs-check", "product_id": "p", "project_id": None, "tags": [],
                   "steps": {"create": "done", "render": "inflight"}, "inputs": {}, "history": [],
                   "error": "a render was sent but its answer was lost"} for k in ("a", "b")}
    with Sandbox(Config(time_scale=60.0)) as sb:
        _apply(run, manifest, str(state), sb.url)  # records the state's identity
        store = State.load(str(state))
        for key, record in records.items():
            record["inputs"] = store.videos[key]["inputs"]
            store.put(key, record)
        store.close()
        code, events = _apply(run, manifest, str(state), sb.url)
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert code == 1
    assert len([w for w in warnings if "offers no read that tells" in w]) == 1
    assert "2 videos need a check: api.version v1" in warnings[0]


# -- --rerender-unseen-after: the settle rule a team may choose ------------------------------

_RENDER = {"open": "POST /open/project/render", "v2": "POST /v2/create_video_from_product"}


def _lost_before_commit(run, tmp_path, version: str, sb: Sandbox) -> tuple[str, str, str]:
    """Apply 2 videos where the first render POST answers 500 (never carried out: its outcome
    is unknown to the client), so one video ends needs-check; then date its POST an hour back.
    Returns (manifest, state, the needs-check video's key)."""
    manifest = write_manifest(str(tmp_path), 2, version, name=f"unseen-{version}")
    state = str(tmp_path / f"unseen-{version}.json")
    code, _ = _apply(run, manifest, state, sb.url)
    store = State.load(state)
    checks = [k for k, r in store.videos.items() if r.get("status") == "needs-check"]
    assert code == 1 and len(checks) == 1, store.videos
    record = store.videos[checks[0]]
    assert record["steps"]["render"] == "inflight" and record["render_sent_at"].startswith("20")
    record["render_sent_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    store.put(checks[0], record)
    store.close()
    return manifest, state, checks[0]


@pytest.mark.parametrize("version", ["open", "v2"])
def test_rerender_unseen_after_renders_again_a_render_that_never_left(run, tmp_path, version):
    faults = [Fault("http_500", _RENDER[version], times=1)]
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0, post_limit=1000, faults=faults)) as sb:
        manifest, state, key = _lost_before_commit(run, tmp_path, version, sb)
        env = {"JOGG_API_KEY": FAKE_KEY}
        # Off by default: the plan keeps it needs-check and spends nothing.
        plain = json.loads(run("plan", manifest, "--state", state, "--api-base", sb.url, "--output", "json",
                               env=env).stdout)
        assert [i["action"] for i in plain["items"] if i["key"] == key] == ["needs-check"]
        assert plain["estimate"]["renders"] == 0
        # Under the rule the plan shows it, says the risk, and its estimate counts it.
        shown = run("plan", manifest, "--state", state, "--api-base", sb.url, "--rerender-unseen-after", "30m",
                    env=env)
        assert f"! rerender   {key}" in shown.stdout and "may pay twice" in shown.stdout
        planned = json.loads(run("plan", manifest, "--state", state, "--api-base", sb.url, "--output", "json",
                                 "--rerender-unseen-after", "30m", env=env).stdout)
        assert [i["action"] for i in planned["items"] if i["key"] == key] == ["rerender"]
        assert planned["estimate"]["renders"] == 1
        # Without the rule, apply leaves it to the user.
        code, events = _apply(run, manifest, state, sb.url)
        assert code == 1 and sb.stats()["renders_accepted"] == 1
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, "--poll-interval", "0.1",
                     "--poll-max", "0.2", "--output", "json", "--rerender-unseen-after", "30m", env=env)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.exit_code == 0, result.stdout
    assert [e["action"] for e in events if e["event"] == "plan" and e["key"] == key] == ["rerender"]
    record = State.load(state).videos[key]
    assert record["status"] == "succeeded"
    assert any("rerendered_unseen" in h for h in record["history"])
    stats = sb.stats()
    assert stats["renders_accepted"] == 2 and set(stats["renders_per_project"].values()) == {1}


def test_rerender_unseen_after_adopts_what_the_first_read_shows(run, tmp_path):
    """Due under the rule, but the render was accepted (its answer dropped after JoggAI carried
    it out): the run's first read finds it by name and adopts it, never renders it twice."""
    faults = [Fault("drop_after_commit", _RENDER["v2"], times=1)]
    # The list shows nothing for a while: a name lookup that came before the render was listed.
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0, post_limit=1000, faults=faults)) as sb:
        manifest = write_manifest(str(tmp_path), 2, "v2", name="seen")
        state = str(tmp_path / "seen.json")
        code, _ = _apply(run, manifest, state, sb.url)
        store = State.load(state)
        key = next(iter(store.videos))
        record = store.videos[key]
        assert code == 0  # adopted at once; made the needs-check it would be had the list lagged
        record.update(status="needs-check", steps={**record["steps"], "render": "inflight"},
                      error="a render was sent but its answer was lost")
        record.pop("project_id", None)
        record["render_sent_at"] = "2020-01-01T00:00:00Z"
        store.put(key, record)
        store.close()
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, "--poll-interval", "0.1",
                     "--poll-max", "0.2", "--rerender-unseen-after", "1h", env={"JOGG_API_KEY": FAKE_KEY})
        stats = sb.stats()
    assert result.exit_code == 0, result.stdout
    # Said without -v: the adoption with its evidence, and counted in the summary.
    assert any(f"adopted     {key}  JoggAI shows render" in line and line.endswith("(it needed a check)")
               for line in result.stdout.splitlines()), result.stdout
    assert "1 adopted after a check" in result.stdout
    assert stats["renders_accepted"] == 2 and set(stats["renders_per_project"].values()) == {1}
    assert "rerendered_unseen" not in json.dumps(State.load(state).videos[key]["history"])


def test_rerender_unseen_after_never_touches_an_accepted_render_read_not_found():
    from jogg_flow.engine.planner import Rerender

    rule = Rerender(60.0, time.time())
    old = "2020-01-01T00:00:00Z"
    lost = {"status": "needs-check", "steps": {"render": "inflight"}, "render_sent_at": old}
    accepted = {"status": "needs-check", "steps": {"render": "done"}, "project_id": "p",
                "submitted_at": old, "needs_check_since": old}
    assert "may pay twice" in rule.due(lost)
    assert rule.due(accepted) == ""
    assert Rerender(60.0, time.time()).due({**lost, "render_sent_at": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) == ""  # not yet due


def test_a_saved_plan_keeps_its_rerender_rule_and_the_instant_it_was_planned(run, tmp_path):
    faults = [Fault("http_500", _RENDER["open"], times=1)]
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0, post_limit=1000, faults=faults)) as sb:
        manifest, state, key = _lost_before_commit(run, tmp_path, "open", sb)
        env = {"JOGG_API_KEY": FAKE_KEY}
        saved = str(tmp_path / "plan.json")
        planned = run("plan", manifest, "--state", state, "--api-base", sb.url, "--rerender-unseen-after", "30m",
                      "--out", saved, env=env)
        assert planned.exit_code == 0, planned.stderr
        other = run("apply", saved, "--state", state, "--api-base", sb.url, "--rerender-unseen-after", "2h",
                    env=env)
        assert other.exit_code == 3 and "--rerender-unseen-after cannot be used" in other.stderr
        applied = run("apply", saved, "--state", state, "--api-base", sb.url, "--poll-interval", "0.1",
                      "--poll-max", "0.2", env=env)
        assert applied.exit_code == 0, applied.stdout + applied.stderr
        assert sb.stats()["renders_accepted"] == 2
    assert State.load(state).videos[key]["status"] == "succeeded"


def test_v1_never_rerenders_and_says_the_rule_does_not_apply(run, write, tmp_path):
    manifest = write("m.yaml", """
        version: 1
        api: {version: v1}
        defaults: {render: {avatar_id: 37}}
        products:
          - {key: a, url: "https://shop.example/a"}
        """)
    state = str(tmp_path / "s.json")
    with Sandbox(Config(time_scale=60.0, post_limit=1000)) as sb:
        _apply(run, manifest, state, sb.url)
        store = State.load(state)
        record = store.videos["a"]
        record.update(status="needs-check", steps={"create": "done", "render": "inflight"}, project_id=None,
                      render_sent_at="2020-01-01T00:00:00Z", error="a render was sent but its answer was lost")
        store.put("a", record)
        store.close()
        env = {"JOGG_API_KEY": FAKE_KEY}
        planned = json.loads(run("plan", manifest, "--state", state, "--api-base", sb.url, "--output", "json",
                                 "--rerender-unseen-after", "1h", env=env).stdout)
        assert [i["action"] for i in planned["items"]] == ["needs-check"]
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, "--output", "json",
                     "--rerender-unseen-after", "1h", env=env)
        assert sb.stats()["renders_accepted"] == 1
    assert result.exit_code == 1
    assert "--rerender-unseen-after does not apply" in result.stdout


def test_the_step_summary_and_state_show_say_how_long_a_video_has_needed_a_check(run, tmp_path):
    faults = [Fault("http_500", _RENDER["open"], times=1)]
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0, post_limit=1000, faults=faults)) as sb:
        manifest, state, key = _lost_before_commit(run, tmp_path, "open", sb)
        store = State.load(state)
        record = store.videos[key]
        record["needs_check_since"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 3600))
        store.put(key, record)
        store.close()
        summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, "--poll-interval", "0.1",
                     env={"JOGG_API_KEY": FAKE_KEY, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary),
                          "GITHUB_OUTPUT": str(outputs)})
    assert result.exit_code == 1
    row = next(line for line in summary.read_text().splitlines() if f"`{key}`" in line)
    assert "| needs-check for 3 h |" in row, row
    assert "needs-check for 3 h: project " in row and " reads status 1 (start) since the POST at 20" in row
    shown = json.loads(run("state", "show", manifest, key, "--state", state).stdout)
    assert shown["needs_check_for"] == "3 h" and shown["error"] and shown["needs_check_since"]
    assert f"{key}\tneeds-check for 3 h\t" in run("state", "list", manifest, "--state", state).stdout


def test_the_manifest_may_choose_the_rule_and_the_flag_overrides_it(run, tmp_path):
    faults = [Fault("http_500", _RENDER["open"], times=1)]
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0, post_limit=1000, faults=faults)) as sb:
        manifest, state, key = _lost_before_commit(run, tmp_path, "open", sb)
        text = pathlib.Path(manifest).read_text()
        pathlib.Path(manifest).write_text(text.replace("api: {version: open}",
                                                       "api: {version: open, rerender_unseen_after: 30m}"))
        env = {"JOGG_API_KEY": FAKE_KEY}

        def actions(*flags: str) -> list[str]:
            out = run("plan", manifest, "--state", state, "--api-base", sb.url, "--output", "json", *flags, env=env)
            return [i["action"] for i in json.loads(out.stdout)["items"] if i["key"] == key]

        assert actions() == ["rerender"]
        assert actions("--rerender-unseen-after", "2h") == ["needs-check"]  # the flag wins
        result = run("apply", manifest, "--api-base", sb.url, "--state", state, "--poll-interval", "0.1",
                     "--poll-max", "0.2", env=env)
        assert result.exit_code == 0, result.stdout
        assert sb.stats()["renders_accepted"] == 2


@pytest.mark.parametrize("value, said", [("soon", "must be a duration such as 6h"),
                                         ("0s", "must be more than 0 seconds")])
def test_a_bad_rule_in_the_manifest_is_refused_at_its_line(run, write, value, said):
    manifest = write("m.yaml", f"""
        version: 1
        api:
          version: v2
          rerender_unseen_after: {value}
        defaults: {{render: {{avatar_id: 37}}}}
        products:
          - {{key: a, url: "https://shop.example/a"}}
        """)
    result = run("validate", manifest)
    assert result.exit_code == 3
    assert "m.yaml:4:" in result.stderr and said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
