"""Saved plans: `plan --out FILE` then `apply FILE` runs exactly what was reviewed, or
refuses (before anything is sent) when the manifest, the state or the API moved since."""

from __future__ import annotations

import json

import pytest

from jogg_flow.cli.approval import QUESTION
from tests.conftest import FAKE_KEY
from tests.test_approve import FAST, SIMPLE, on_terminal

ENV = {"JOGG_API_KEY": FAKE_KEY}


@pytest.fixture
def setup(write, tmp_path, sandbox, run, monkeypatch):
    """(manifest, plan(*extra) -> result, apply(*extra) -> result, plan file, state file)."""
    monkeypatch.chdir(tmp_path)  # plan and apply run from the same directory, as documented
    manifest = write("m.yaml", "# the spring lamps\n" + SIMPLE)
    state = tmp_path / "s.json"
    where = ("--api-base", sandbox.url, "--state", str(state))

    def plan(*extra):
        return run("plan", "m.yaml", *where, "--out", "plan.json", *extra, env=ENV)

    def apply(target, *extra):
        return run("apply", target, *where, "-q", *FAST, *extra, env=ENV)

    return manifest, plan, apply, tmp_path / "plan.json", state


def renders(sandbox):
    return sandbox.stats()["renders_accepted"]


def test_a_saved_plan_is_applied_as_planned_and_holds_no_key(setup, sandbox):
    manifest, plan, apply, saved, state = setup
    shown = plan()
    assert shown.exit_code == 0 and "+ create     p0" in shown.stdout
    assert "apply plan.json" in shown.stderr
    text = saved.read_text()
    body = json.loads(text)
    assert body["jogg_flow_plan"] == 1 and body["manifest"] == "m.yaml" and body["select"] == []
    assert [(i["key"], i["action"]) for i in body["items"]] == [("p0", "create"), ("p1", "create")]
    assert body["estimate"]["renders"] == 2
    assert FAKE_KEY not in text
    result = apply("plan.json")
    assert result.exit_code == 0, result.stderr
    assert renders(sandbox) == 2
    assert {r["status"] for r in json.loads(state.read_text())["videos"].values()} == {"succeeded"}


def test_a_value_change_in_the_manifest_is_refused_a_comment_is_not(setup, sandbox, write):
    manifest, plan, apply, saved, state = setup
    assert plan().exit_code == 0
    write("m.yaml", "# the summer lamps, reviewed again\n" + SIMPLE + "# a trailing note\n")
    assert apply("plan.json").exit_code == 0 and renders(sandbox) == 2
    # A new plan of the now up-to-date videos, then a value edit.
    assert plan().exit_code == 0
    write("m.yaml", SIMPLE.replace("shop.example/p1", "shop.example/p1-v2"))
    result = apply("plan.json")
    assert result.exit_code == 3
    assert result.stderr.strip() == "error: the manifest changed since the plan was saved; run plan again"
    assert renders(sandbox) == 2


def test_a_state_moved_by_another_apply_is_refused(setup, sandbox):
    manifest, plan, apply, saved, state = setup
    assert plan().exit_code == 0
    assert apply("m.yaml", "--select", "p0").exit_code == 0  # another run, meanwhile
    result = apply("plan.json")
    assert result.exit_code == 4
    assert "the state changed since the plan was saved (another apply?)" in result.stderr
    assert renders(sandbox) == 1


def test_a_saved_plan_applies_once(setup, sandbox):
    manifest, plan, apply, saved, state = setup
    assert plan().exit_code == 0
    assert apply("plan.json").exit_code == 0
    again = apply("plan.json")
    assert again.exit_code == 4 and "the state changed since the plan was saved" in again.stderr
    assert renders(sandbox) == 2


def test_options_that_change_what_the_plan_covers_are_refused_by_name(setup, sandbox, run, tmp_path):
    manifest, plan, apply, saved, state = setup
    assert plan().exit_code == 0
    selected = apply("plan.json", "--select", "p0")
    assert selected.exit_code == 3 and "--select cannot be used with a saved plan" in selected.stderr
    trial = run("apply", "plan.json", "--sandbox", "--state", str(state), env=ENV)
    assert trial.exit_code == 3 and "--sandbox cannot be used with plan.json" in trial.stderr
    other = run("apply", "plan.json", "--api-base", sandbox.url, "--state", "other.json", env=ENV)
    assert other.exit_code == 3 and "pass the same --state" in other.stderr
    assert "other.json" in other.stderr and not (tmp_path / "other.json").exists()
    elsewhere = run("apply", "plan.json", "--api-base", sandbox.url.replace("127.0.0.1", "localhost"),
                    "--state", str(state), env=ENV)
    assert elsewhere.exit_code == 3 and "planned against another API" in elsewhere.stderr
    assert renders(sandbox) == 0


def test_a_sandbox_plan_applies_with_the_sandbox(write, run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write("m.yaml", SIMPLE)
    assert run("plan", "m.yaml", "--sandbox", "--out", "trial.json").exit_code == 0
    result = run("apply", "trial.json", "-q", *FAST)
    assert result.exit_code == 0, result.stderr
    assert "2 succeeded" in result.stdout
    assert (tmp_path / ".jogg-flow" / "m.sandbox.state.json").exists()


def test_a_saved_plan_on_a_terminal_is_not_asked_about(setup, sandbox):
    manifest, plan, apply, saved, state = setup
    assert plan().exit_code == 0
    out, code = on_terminal(["apply", str(saved), "--api-base", sandbox.url, "--state", str(state),
                             *FAST], answer=b"no\n")
    assert code == 0 and QUESTION not in out, out
    assert renders(sandbox) == 2


def test_not_a_plan_stays_a_manifest_and_a_newer_plan_is_refused(write, run, tmp_path):
    as_json = write("m.json", json.dumps({"version": 1, "products": [{"key": "a", "url": "https://x.example/a"}]}))
    assert run("plan", as_json, "--sandbox").exit_code == 0
    newer = write("newer.json", json.dumps({"jogg_flow_plan": 99}))
    result = run("apply", newer, "--sandbox")
    assert result.exit_code == 3 and "saved plan format 99" in result.stderr


def test_a_postgres_plan_never_holds_the_password(pg, postgres_server, write, run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write("m.yaml", SIMPLE)
    shown = run("plan", "m.yaml", "--sandbox", "--state", pg, "--out", "plan.json")
    assert shown.exit_code == 0, shown.stderr
    text = (tmp_path / "plan.json").read_text()
    assert postgres_server.password not in text and "PostgreSQL state 'm.sandbox' on 127.0.0.1" in text
    missing = run("apply", "plan.json")
    assert missing.exit_code == 3 and "pass the same --state" in missing.stderr
    assert postgres_server.password not in missing.stderr
    result = run("apply", "plan.json", "-q", *FAST, env={"JOGG_FLOW_STATE": pg})
    assert result.exit_code == 0, result.stderr
    assert "2 succeeded" in result.stdout


def test_a_state_changed_in_place_is_refused(setup, sandbox):
    """A change that keeps the number of videos and every planned action (here a record's
    project id, as another tool or a `state adopt` might write) still moves the state."""
    from jogg_flow.state import locked

    manifest, plan, apply, saved, state = setup
    assert apply("m.yaml", "--select", "p0").exit_code == 0
    assert plan().exit_code == 0
    with locked(str(state), "m") as store:
        record = store.get("p0")
        assert record is not None
        record["project_id"] = "f" * 32
        store.put("p0", record)
    refused = apply("plan.json")
    assert refused.exit_code == 4 and "state changed since the plan was saved" in refused.stderr
    assert renders(sandbox) == 1


def test_a_saved_plan_with_json_events_at_a_terminal_runs(setup, sandbox):
    # `apply -json` needs -auto-approve or a saved plan in Terraform; here too.
    manifest, plan, apply, saved, state = setup
    assert plan().exit_code == 0
    piped = bytearray()
    out, code = on_terminal(["apply", str(saved), "--api-base", sandbox.url, "--state", str(state),
                             "--output", "json", *FAST], answer=b"no\n", piped=piped)
    assert code == 0 and QUESTION not in out, out
    assert json.loads(piped.decode().splitlines()[-1])["event"] == "summary"
    assert renders(sandbox) == 2
