"""A recognisable fake key must appear in no output, log, state or event of any command."""

from __future__ import annotations

import json
import pathlib

import pytest

from jogg_flow.sandbox import Config, Fault, Sandbox
from tests.conftest import FAKE_KEY

MANIFEST = """
version: 1
products:
  - key: a
    url: https://shop.example/a
    details: {title: A}
  - key: b
    url: https://shop.example/b
"""


def everything_written(tmp_path: pathlib.Path) -> str:
    return "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())


def test_the_key_never_leaves_the_environment(write, run, tmp_path):
    env = {"JOGG_API_KEY": FAKE_KEY}
    manifest = write("m.yaml", MANIFEST)
    state = str(tmp_path / "state" / "s.json")
    seen = []
    faults = [Fault("http_500", "GET *"), Fault("drop_after_commit", "POST /open/project/render"),
              Fault("rate_429", "POST /open/product")]
    with Sandbox(Config(time_scale=60.0, render_seconds=10.0, faults=faults)) as sb:
        common = ("--api-base", sb.url, "--state", state)
        fast = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2")
        for args in (("validate", manifest), ("plan", manifest, "--state", state),
                     ("apply", manifest, *common, *fast, "-vv"),
                     ("apply", manifest, *common, *fast, "--output", "json"),
                     ("outputs", manifest, "--state", state, "--format", "json"),
                     ("plan", manifest, "--state", state, "--output", "json")):
            result = run(*args, env=env)
            seen.append(result.output + result.stderr)
    with Sandbox(Config(api_keys=frozenset({"other"}))) as wrong:
        result = run("apply", manifest, "--api-base", wrong.url, "--state",
                     str(tmp_path / "w.json"), "-vv", env=env)
        assert result.exit_code == 1
        seen.append(result.output + result.stderr)
    assert "10105" in seen[-1]
    for text in seen + [everything_written(tmp_path)]:
        assert FAKE_KEY not in text


# A CI runner's environment: every one of these must stay out of templates, requests and files.
CI_ENV = {
    "GITHUB_TOKEN": "ghs_citoken0123456789abcdef",
    "AWS_SECRET_ACCESS_KEY": "awsSecretKey0123456789abcdEF",
    "ACTIONS_RUNTIME_TOKEN": "actionsRuntime0123456789xyz",
    "NPM_TOKEN": "npm_tokenvalue0123456789abc",
    "DATABASE_URL": "postgres://app:dbPassw0rd98765@db.internal/app",
    "JOGG_API_KEY": FAKE_KEY,
    "REGION": "eu-west",
}
SECRETS = [v for k, v in CI_ENV.items() if k != "REGION"] + ["dbPassw0rd98765"]

HOSTILE = [
    "{{ env.GITHUB_TOKEN }}", "{{ env }}", "{{ env | list }}", "{{ env.JOGG_API_KEY | reverse }}",
    "{{ env['NPM_TOKEN'][::-1] }}", "{{ env.AWS_SECRET_ACCESS_KEY | upper }}", "{{ env.items() | list }}",
    "{{ env.DATABASE_URL[0:60] }}", "{% set ns = namespace(e=env) %}{{ ns.e }}",
    "{{ self.__dict__ }}", "{{ cycler(env).next() }}", "{{ env.values() | join(',') }}",
    "{{ env | dictsort }}", "{{ env.get('GITHUB_TOKEN') }}",
]


def _forms(secret: str) -> list[str]:
    return [secret, secret[::-1], secret.upper(), secret.upper()[::-1]]


def _leaks(text: str) -> list[str]:
    return [form for secret in SECRETS for form in _forms(secret) if form in text]


@pytest.mark.parametrize("template", HOSTILE)
def test_no_template_reaches_a_ci_token(template, write, run, tmp_path):
    manifest = write("m.yaml", f"""
        version: 1
        env: [REGION]
        products:
          - key: a
            url: https://shop.example/a
            details: {{title: {json.dumps(template)}}}
        """)
    state = str(tmp_path / "s.json")
    with Sandbox(Config(time_scale=60.0, render_seconds=5.0)) as sb:
        seen = []
        for args in (("validate", manifest), ("validate", manifest, "--output", "json"),
                     ("plan", manifest, "--state", state), ("plan", manifest, "--state", state,
                                                            "--output", "json"),
                     ("apply", manifest, "--api-base", sb.url, "--state", state, "-vv",
                      "--poll-interval", "0.05", "--poll-max", "0.2"),
                     ("apply", manifest, "--api-base", sb.url, "--state", state, "--output", "json",
                      "--poll-interval", "0.05", "--poll-max", "0.2"),
                     ("outputs", manifest, "--state", state, "--format", "json")):
            result = run(*args, env={**CI_ENV, "GITHUB_ACTIONS": "true"})
            seen.append(result.output + result.stderr)
            assert "Traceback" not in seen[-1]
        received = repr(sb.backend.products) + repr(sb.backend.projects)
    assert _leaks(received) == []
    assert _leaks("".join(seen) + everything_written(tmp_path)) == []


def test_declared_credentials_are_refused_at_their_line(write, run):
    manifest = write("m.yaml", """
        version: 1
        env: [REGION, GITHUB_TOKEN, DATABASE_URL, JOGG_API_KEY, MY_SESSION_ID]
        products:
          - key: a
            url: https://shop.example/a
            details: {title: "{{ env.REGION }}"}
        """)
    result = run("validate", manifest, env=CI_ENV)
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert [line.split(":")[1] for line in lines] == ["2"] * 4
    assert "GITHUB_TOKEN looks like a credential" in result.stderr
    assert "MY_SESSION_ID looks like a credential" in result.stderr
    assert _leaks(result.output + result.stderr) == []


def test_a_failing_templated_value_is_shown_as_its_template(write, run):
    manifest = write("m.yaml", """
        version: 1
        env: [REGION]
        products:
          - key: a
            url: "{{ env.REGION }}"
        """)
    result = run("validate", manifest, env={**CI_ENV, "GITHUB_ACTIONS": "true"})
    assert result.exit_code == 3
    assert "templated from '{{ env.REGION }}'" in result.stderr
    assert "eu-west" not in result.output + result.stderr


def test_env_shows_only_declared_names_and_the_state_holds_no_secret(write, run, tmp_path):
    manifest = write("m.yaml", """
        version: 1
        env: [REGION]
        products:
          - key: a
            url: https://shop.example/a
            details: {title: "{{ env }} {{ env | list }}"}
        """)
    state = str(tmp_path / "s.json")
    with Sandbox(Config(time_scale=60.0, render_seconds=5.0)) as sb:
        result = run("apply", manifest, "--api-base", sb.url, "--state", state,
                     "--poll-interval", "0.05", "--poll-max", "0.2", env=CI_ENV)
        assert result.exit_code == 0, result.stderr
        titles = [p["title"] for p in sb.backend.products.values()]
    assert titles == ["{'REGION': 'eu-west'} ['REGION']"]
    assert _leaks(everything_written(tmp_path) + result.output + result.stderr) == []


def test_a_key_rebuilt_by_a_template_is_refused_even_where_env_is_not_read(write, run):
    """The second line behind the restricted `env`: a rendered value holding the key (here
    rebuilt from its reversed copy pasted into vars) is refused, without quoting it."""
    manifest = write("m.yaml", f"""
        version: 1
        vars: {{tail: "{FAKE_KEY[::-1]}"}}
        products:
          - key: a
            url: https://shop.example/a
            details: {{title: "{{{{ vars.tail | reverse }}}}"}}
        """)
    result = run("validate", manifest, env={"JOGG_API_KEY": FAKE_KEY})
    assert result.exit_code == 3
    assert "m.yaml:6:" in result.stderr
    assert _leaks(result.output + result.stderr) == []
