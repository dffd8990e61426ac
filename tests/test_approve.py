"""A plan a person can approve: old → new values, what a replace costs, the estimate's
footer, and the question `apply` asks on a terminal before it spends."""

from __future__ import annotations

import json
import os
import signal

import pytest

from jogg_flow.cli.approval import QUESTION
from jogg_flow.sandbox import Fault
from tests.conftest import FAKE_KEY, ROOT
from tests.terminal import run_on_pty

FAST = ("--poll-interval", "0.05", "--poll-max", "0.2")
IMAGES = [f"https://shop.example/img/lamp-{n}-view-large.jpg" for n in ("front", "side", "back")]
MANIFEST = """
version: 1
products:
  - key: lamp
    url: https://shop.example/lamp
    details:
      title: {title}
      intro_medias: [{images}]
    render: {{lang: {lang}}}
  - key: kettle
    url: https://shop.example/kettle
"""


def lamp(write, title="Arc Lamp", lang="english", images=2):
    return write("m.yaml", MANIFEST.format(title=title, lang=lang, images=", ".join(IMAGES[:images])))


def applied(run, manifest, *extra):
    result = run("apply", manifest, "--sandbox", "-q", *FAST, *extra)
    assert result.exit_code == 0, result.stderr
    return result


LONG = "Arc Lamp, now with a dimmer that remembers your evening settings"


def test_plan_text_shows_old_and_new_values_shortened(write, run):
    manifest = lamp(write)
    applied(run, manifest)
    lamp(write, title=LONG, lang="german", images=3)
    out = run("plan", manifest, "--sandbox").stdout
    lines = out.splitlines()
    start = lines.index("~ replace    lamp")
    assert lines[start + 1:start + 5] == [
        "      details.intro_medias: 2 items → 3 items",
        '      details.title: "Arc Lamp" → "Arc Lamp, now with a dimmer that rememb…"',
        '      render.lang: "english" → "german"',
        "      a new render that costs credits; the previous video stays in the state's history"]
    assert "= up-to-date kettle" in lines


def test_plan_json_carries_full_old_and_new_values(write, run):
    manifest = lamp(write)
    applied(run, manifest)
    lamp(write, title=LONG, lang="german", images=3)
    items = {i["key"]: i for i in json.loads(run("plan", manifest, "--sandbox", "--output", "json").stdout)["items"]}
    item = items["lamp"]
    assert item["changes"] == ["details.intro_medias", "details.title", "render.lang"]
    diff = {d["field"]: (d["old"], d["new"]) for d in item["diff"]}
    assert diff["details.title"] == ("Arc Lamp", LONG)
    assert diff["render.lang"] == ("english", "german")
    old, new = diff["details.intro_medias"]
    assert [m["url"] for m in old] == IMAGES[:2] and [m["url"] for m in new] == IMAGES
    assert "diff" not in items["kettle"]


def test_an_added_or_removed_field_shows_none_and_lists_of_one_size_count_what_changed(write, run):
    manifest = lamp(write)
    applied(run, manifest)
    write("m.yaml", MANIFEST.format(title="Arc Lamp", lang="english", images=", ".join(IMAGES[1:]))
          .replace("    render: {lang: english}\n", "    render: {lang: english, aspect_ratio: portrait}\n")
          .replace("      title: Arc Lamp\n", ""))
    out = run("plan", manifest, "--sandbox").stdout
    assert "      details.intro_medias: 2 items → 2 items (2 changed)" in out
    assert '      details.title: "Arc Lamp" → (none)' in out
    assert "      render.aspect_ratio: (none) → " in out


def test_a_retry_says_it_is_a_new_paid_render(write, run, sandbox, tmp_path):
    manifest = write("m.yaml", "version: 1\nproducts:\n  - key: lamp\n    url: https://shop.example/lamp\n")
    state = str(tmp_path / "s.json")
    env = {"JOGG_API_KEY": FAKE_KEY}
    sandbox.add_fault(Fault("render_fail", "POST /open/project/render"))
    result = run("apply", manifest, "--api-base", sandbox.url, "--state", state, "-q", *FAST, env=env)
    assert result.exit_code == 1, result.stderr
    out = run("plan", manifest, "--api-base", sandbox.url, "--state", state, "--retry-failed", env=env).stdout
    assert "! retry      lamp" in out
    assert "      a new render that costs credits; the failed one stays in the state's history" in out


def test_the_sandbox_footer_uses_the_sandbox_budget(write, run):
    manifest = lamp(write)
    real = run("plan", manifest).stdout
    trial = run("plan", manifest, "--sandbox").stdout
    assert "Estimate: 2 renders ≈ 2 credits" in real and "≈ 1 min at 20/60s." in real
    assert "≈ 1 s at 20/1s (the sandbox's budget" in trial
    estimate = json.loads(run("plan", manifest, "--sandbox", "--output", "json").stdout)["estimate"]
    assert estimate["post_seconds"] == 1.0


def test_plan_output_never_holds_the_api_key(write, run):
    env = {"JOGG_API_KEY": FAKE_KEY}
    sneaky = write("sneaky.yaml", """
        version: 1
        env: [JOGG_API_KEY]
        products:
          - key: lamp
            url: https://shop.example/lamp
            details: {title: "{{ env.JOGG_API_KEY }}"}
        """)
    for output in ("text", "json"):
        result = run("plan", sneaky, "--sandbox", "--output", output, env=env)
        assert result.exit_code == 3
        assert FAKE_KEY not in result.stdout + result.stderr
    manifest = lamp(write)
    applied(run, manifest)
    lamp(write, title="Arc Lamp 2")
    for output in ("text", "json"):
        result = run("plan", manifest, "--sandbox", "--output", output, env=env)
        assert result.exit_code == 0 and "Arc Lamp 2" in result.stdout
        assert FAKE_KEY not in result.stdout + result.stderr


# -- the question on a terminal -------------------------------------------------------------

SIMPLE = "version: 1\nproducts:\n" + "".join(
    f"  - key: p{i}\n    url: https://shop.example/p{i}\n" for i in range(2))


def on_terminal(args, env_extra=None, answer: bytes | None = b"yes\n", interrupt=False,
                stdin_tty=True, piped: bytearray | None = None, stderr_too=False, guard: float = 120.0):
    """Run `jogg-flow ARGS` with stdout (and stdin unless `stdin_tty` is False) on a
    pseudo-terminal, or stdout into a pipe with `piped`; answer the question when it shows
    (`interrupt`: send SIGINT, or the signal given, instead). Returns (what the terminal
    showed, exit code)."""
    env = {**os.environ, "JOGG_API_KEY": FAKE_KEY, "PYTHONPATH": str(ROOT), "TERM": "xterm",
           "NO_COLOR": "1", **(env_extra or {})}
    env.pop("GITHUB_ACTIONS", None)
    answered = False

    def react(proc, master, chunk, seen):
        nonlocal answered
        if not answered and QUESTION.encode() in seen:
            answered = True
            if interrupt:
                proc.send_signal(signal.SIGINT if interrupt is True else interrupt)
            elif answer is None:
                os.write(master, b"\x04")  # Ctrl-D: end of input
            else:
                os.write(master, answer)

    seen, code = run_on_pty(list(args), env, react, stdin_tty=stdin_tty, piped=piped,
                            stderr_too=stderr_too, guard=guard)
    return seen.decode(errors="replace").replace("\r\n", "\n"), code


@pytest.fixture
def live(write, tmp_path, sandbox):
    """(manifest, args for apply against the sandbox with its own state, state path)."""
    manifest = write("m.yaml", SIMPLE)
    state = tmp_path / "s.json"
    return manifest, ["apply", manifest, "--api-base", sandbox.url, "--state", str(state), *FAST], state


def posts(sandbox):
    return {route: n for route, n in sandbox.stats()["requests"].items() if route.startswith("POST")}


def test_yes_at_the_question_makes_the_videos(live, sandbox):
    manifest, args, state = live
    out, code = on_terminal(args)
    assert code == 0, out
    head = out[:out.index(QUESTION)]
    assert "+ create     p0" in head and "+ create     p1" in head and "Plan: 2 create." in head
    assert "Estimate: 2 renders ≈ 2 credits" in head
    assert sandbox.stats()["renders_accepted"] == 2
    assert {r["status"] for r in json.loads(state.read_text())["videos"].values()} == {"succeeded"}


@pytest.mark.parametrize("answer", [b"no\n", b"y\n", b"YES please\n", None])
def test_anything_but_yes_sends_nothing_and_leaves_the_state(live, sandbox, answer):
    manifest, args, state = live
    out, code = on_terminal(args, answer=answer)
    assert code == 1, out
    assert "Apply cancelled; nothing was sent." in out and "Traceback" not in out
    assert posts(sandbox) == {} and not state.exists()


def test_ctrl_c_at_the_question_is_exit_130_and_sends_nothing(live, sandbox, run):
    manifest, args, state = live
    out, code = on_terminal(args, interrupt=True)
    assert code == 130, out
    assert "Apply cancelled; nothing was sent." in out and "Traceback" not in out
    assert posts(sandbox) == {}
    # The lock went with it: the next run goes ahead.
    again = run("apply", *args[1:], "-q", env={"JOGG_API_KEY": FAKE_KEY})
    assert again.exit_code == 0, again.stderr


def test_sigterm_at_the_question_ends_the_run_at_once_and_sends_nothing(live, sandbox, run):
    # Before, SIGTERM printed "stopping…" and the question went on waiting for input: the
    # guard (a hang, not a timing) would end this test on the old code.
    manifest, args, state = live
    out, code = on_terminal(args, interrupt=signal.SIGTERM, guard=60.0)
    assert code == 130, out
    assert "Apply cancelled; nothing was sent." in out and "Traceback" not in out
    assert "stopping:" not in out
    assert posts(sandbox) == {} and not state.exists()
    again = run("apply", *args[1:], "-q", env={"JOGG_API_KEY": FAKE_KEY})
    assert again.exit_code == 0, again.stderr


def test_the_question_shows_changes_only_and_a_state_left_as_it_was(live, sandbox, write, run):
    manifest, args, state = live
    first = run(*args, "-q", env={"JOGG_API_KEY": FAKE_KEY})
    assert first.exit_code == 0, first.stderr
    before = json.loads(state.read_text())["videos"]
    write("m.yaml", SIMPLE.replace("shop.example/p1", "shop.example/p1-v2"))
    out, code = on_terminal(args, answer=b"no\n")
    assert code == 1
    head = out[:out.index(QUESTION)]
    assert "~ replace    p1" in head and '      url: "https://shop.example/p1" → "https://shop.example/p1-v2"' in head
    assert "a new render that costs credits" in head
    assert "p0" not in head and "Plan: 1 replace, 1 up-to-date." in head
    assert json.loads(state.read_text())["videos"] == before
    assert sandbox.stats()["renders_accepted"] == 2


@pytest.mark.parametrize("flag", ["--yes", "--auto-approve"])
def test_yes_flag_on_a_terminal_does_not_ask(live, sandbox, flag):
    manifest, args, state = live
    out, code = on_terminal([*args, flag], answer=b"no\n")
    assert code == 0, out
    assert QUESTION not in out and sandbox.stats()["renders_accepted"] == 2


def test_no_question_without_a_terminal_for_input_even_in_json(live, sandbox):
    manifest, args, state = live
    out, code = on_terminal(args, stdin_tty=False)
    assert code == 0 and QUESTION not in out, out
    out, code = on_terminal([*args, "--output", "json"], stdin_tty=False)  # CI: as before
    assert code == 0 and QUESTION not in out, out
    assert sandbox.stats()["renders_accepted"] == 2


@pytest.mark.parametrize("answer", [b"no\n", None])
def test_apply_piped_into_tee_at_a_terminal_asks_there_and_no_sends_nothing(live, sandbox, answer):
    # `jogg-flow apply m.yaml | tee out.log` typed at a terminal: stdout is a pipe, but a
    # person is at the keyboard and is about to spend.
    manifest, args, state = live
    piped = bytearray()
    out, code = on_terminal(args, answer=answer, piped=piped)
    assert code == 1, out
    head = out[:out.index(QUESTION)]
    assert "+ create     p0" in head and "Plan: 2 create." in head and "Estimate: 2 renders" in head
    assert "Apply cancelled; nothing was sent." in out and "Traceback" not in out
    assert QUESTION.encode() not in piped  # the log gets the run, not the question
    assert posts(sandbox) == {} and not state.exists()


def test_apply_piped_into_tee_at_a_terminal_runs_after_yes(live, sandbox):
    manifest, args, state = live
    piped = bytearray()
    out, code = on_terminal(args, answer=b"yes\n", piped=piped)
    assert code == 0, out
    assert "+ create     p0" in out[:out.index(QUESTION)]
    log = piped.decode()
    assert "succeeded   p0" in log and "succeeded   p1" in log and "2 succeeded" in log
    assert sandbox.stats()["renders_accepted"] == 2


def test_all_output_to_a_file_at_a_terminal_asks_on_the_terminal_itself(live, sandbox):
    # `jogg-flow apply m.yaml > out.log 2>&1`: only stdin is left on the terminal.
    manifest, args, state = live
    piped = bytearray()
    out, code = on_terminal(args, answer=b"no\n", piped=piped, stderr_too=True)
    assert code == 1, out
    assert "+ create     p0" in out[:out.index(QUESTION)]
    assert "Apply cancelled; nothing was sent." in piped.decode()
    assert posts(sandbox) == {} and not state.exists()


def test_json_events_at_a_terminal_without_yes_are_refused_as_terraform_does(live, sandbox):
    # `jogg-flow apply m.yaml --output json > events.jsonl` typed at a terminal.
    manifest, args, state = live
    piped = bytearray()
    out, code = on_terminal([*args, "--output", "json"], piped=piped)
    assert code == 3, out
    assert QUESTION not in out and "Traceback" not in out
    assert "error: apply --output json cannot ask before spending: add --yes, or apply a plan " \
        "saved by `jogg-flow plan --out FILE`; nothing was sent" in out
    last = json.loads(piped.decode().splitlines()[-1])
    assert last["event"] == "error" and last["exit_code"] == 3
    assert posts(sandbox) == {} and not state.exists()
    out, code = on_terminal([*args, "--output", "json", "--yes"], piped=piped)
    assert code == 0 and QUESTION not in out, out
    assert sandbox.stats()["renders_accepted"] == 2


def test_a_plan_that_sends_nothing_is_not_asked_about(live, sandbox, run):
    manifest, args, state = live
    first = run(*args, "-q", env={"JOGG_API_KEY": FAKE_KEY})
    assert first.exit_code == 0, first.stderr
    out, code = on_terminal(args, answer=b"no\n")
    assert code == 0 and QUESTION not in out, out
    assert "2 up-to-date" in out


def test_without_a_key_there_is_no_question_only_the_error(live, sandbox):
    manifest, args, state = live
    out, code = on_terminal(args, env_extra={"JOGG_API_KEY": ""})
    assert code == 3 and QUESTION not in out, out
    assert "JOGG_API_KEY is not set" in out and posts(sandbox) == {}


def test_a_stop_asked_for_before_the_question_cancels_it_unasked():
    # A SIGTERM between planning and the question set the run's stop event; the question
    # then waited for an answer nobody would give.
    import io
    import threading
    from typing import Any, cast

    from jogg_flow.app.online import NotApproved, Proposal
    from jogg_flow.cli.approval import ask
    from jogg_flow.engine.planner import Estimate

    stop = threading.Event()
    stop.set()
    proposal = Proposal(manifest=cast(Any, None), items=[], estimate=Estimate(1, 1, 2), rate=(20, 60.0), records={},
                        identity=None, target={}, where="s.json")
    out = io.StringIO()
    with pytest.raises(NotApproved) as err:
        ask(proposal, "m.yaml", False, io.StringIO("yes\n"), out, stop)
    assert err.value.exit_code == 130 and QUESTION not in out.getvalue()
