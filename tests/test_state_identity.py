"""A state knows the API it describes: another API never sees its videos as finished."""

from __future__ import annotations

import json

import pytest

from jogg_flow.errors import StateError
from jogg_flow.sandbox import Config, Sandbox
from jogg_flow.state import identity

from .conftest import FAKE_KEY

MANIFEST = "version: 1\nproducts:\n  - {key: a, url: 'https://x.example/a'}\n  - {key: b, url: 'https://x.example/b'}\n"
FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.3")
ENV = {"JOGG_API_KEY": FAKE_KEY, "JOGG_API_BASE": None, "JOGG_FLOW_STATE": None, "CI": None}


@pytest.mark.parametrize(("url", "expected"), [
    ("https://api.jogg.ai/v2/", "https://api.jogg.ai"),
    ("HTTPS://API.Jogg.AI:443/v1", "https://api.jogg.ai"),
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("http://127.0.0.1:80/", "http://127.0.0.1"),
    ("https://proxy.example/jogg/V2", "https://proxy.example/jogg"),
])
def test_bases_are_normalised(url, expected):
    assert identity.normalise_base(url) == expected


def test_accounts_are_adopted_once_and_compared_after():
    target = identity.make("v2", "https://api.jogg.ai", "a@x.example")
    assert identity.check(None, target, "s")["account"] == "a@x.example"
    legacy = identity.make("v2", "https://api.jogg.ai/v2")
    assert identity.check(legacy, target, "s")["account"] == "a@x.example"  # adopts the first seen
    assert identity.check(target, identity.make("v2", "https://api.jogg.ai"), "s")["account"] == "a@x.example"
    with pytest.raises(StateError, match="account a@x.example.*account b@x.example"):
        identity.check(target, identity.make("v2", "https://api.jogg.ai", "b@x.example"), "s")
    with pytest.raises(StateError, match="the v2 API at https://api.jogg.ai.*the open API"):
        identity.check(target, identity.make("open", "https://api.jogg.ai"), "s")


def test_a_state_of_a_local_api_is_never_up_to_date_against_the_default(tmp_path, write, run):
    manifest = write("m.yaml", MANIFEST)
    state = str(tmp_path / "s.json")
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0)) as sb:
        done = run("apply", manifest, "--api-base", sb.url, "--state", state, *FAST, env=ENV)
        assert done.exit_code == 0, done.stderr
        same = run("plan", manifest, "--state", state, "--api-base", sb.url + "/", env=ENV)
        assert same.exit_code == 0 and "2 up-to-date" in same.output
        same = run("plan", manifest, "--state", state, env={**ENV, "JOGG_API_BASE": sb.url})
        assert same.exit_code == 0 and "2 up-to-date" in same.output
        for command in ("plan", "outputs", "apply"):
            other = run(command, manifest, "--state", state, env=ENV)
            assert other.exit_code == 4, other.output
            assert "up-to-date" not in other.output
            assert sb.url in other.stderr and "https://api-services.jogg.ai" in other.stderr
        with open(manifest, "a") as fh:
            fh.write("api: {base_url: 'https://elsewhere.example'}\n")
        assert run("plan", manifest, "--state", state, env=ENV).exit_code == 4


def test_the_sandbox_never_touches_a_real_state(tmp_path, write, run):
    manifest = write("m.yaml", MANIFEST)
    state = tmp_path / "s.json"
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0)) as sb:
        assert run("apply", manifest, "--api-base", sb.url, "--state", str(state), *FAST, env=ENV).exit_code == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("s.json")}
    for command in ("apply", "plan", "outputs"):
        result = run(command, manifest, "--sandbox", "--state", str(state), env=ENV)
        assert result.exit_code == 4 and "built-in sandbox" in result.stderr, result.output
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("s.json")}
    assert before == after
    # Without --state, the sandbox keeps its own file beside the manifest.
    assert run("apply", manifest, "--sandbox", env=ENV).exit_code == 0
    assert (tmp_path / ".jogg-flow" / "m.sandbox.state.json").exists() or any(
        p.name.endswith(".sandbox.state.json") for p in (tmp_path / ".jogg-flow").iterdir())


def test_a_state_from_before_identities_is_adopted_by_the_first_run(tmp_path, write, run):
    manifest = write("m.yaml", MANIFEST)
    state = tmp_path / "s.json"
    with Sandbox(Config(time_scale=60.0, render_seconds=30.0)) as sb:
        assert run("apply", manifest, "--api-base", sb.url, "--state", str(state), *FAST, env=ENV).exit_code == 0
        snap = json.loads(state.read_text())
        del snap["identity"]
        state.write_text(json.dumps(snap))
        (tmp_path / "s.json.journal").unlink()
        warned = run("plan", manifest, "--state", str(state), "--api-base", sb.url, env=ENV)
        assert warned.exit_code == 0 and "does not say which API" in warned.stderr
        again = run("apply", manifest, "--api-base", sb.url, "--state", str(state), *FAST, env=ENV)
        assert again.exit_code == 0 and sb.stats()["renders_accepted"] == 2
    assert json.loads(state.read_text())["identity"]["base"] == identity.normalise_base(sb.url)
    assert run("plan", manifest, "--state", str(state), env=ENV).exit_code == 4


def test_plan_warns_when_an_expected_state_is_missing(tmp_path, write, run):
    manifest = write("m.yaml", MANIFEST)
    result = run("plan", manifest, "--state", str(tmp_path / "nowhere.json"), env=ENV)
    assert result.exit_code == 0 and "warning: no state at" in result.stderr
    result = run("plan", manifest, env={**ENV, "CI": "true"})
    assert "warning: no state at" in result.stderr
    assert "warning" not in run("plan", manifest, env=ENV).stderr
