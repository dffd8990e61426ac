"""A needs-check settles itself when the evidence appears: every apply reads it again (free
reads) before anything else, and adopts a render JoggAI shows, never rendering it twice."""

from __future__ import annotations

import json
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
