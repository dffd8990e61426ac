"""Readings that never charge twice: a lost render answer is watched, never re-sent; an
ambiguous one becomes needs-check until the user settles it; a server that is not JoggAI
stops the run before it spends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from jogg_flow.sandbox import Config, Fault, Sandbox
from jogg_flow.state import State
from tests.conftest import FAKE_KEY
from tests.scripted import DROP, Reply, Scripted, envelope
from tests.test_ci_output import EVENTS

MANIFEST = "version: 1\nproducts: [{key: a, url: 'https://shop.example/a'}]\n"
FAST = ("--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2", "--output", "json")
RENDER = "/open/project/render"


class G0:
    """A G0 server whose render answer is lost after the commit, then reads status 1 for
    `idle_reads` reads (None: for ever) before it moves on."""

    def __init__(self, idle_reads: int | None, drop_renders: int = 1) -> None:
        self.idle_reads, self.drop_renders = idle_reads, drop_renders
        self.rendered, self.reads = 0, 0
        self.lock = threading.Lock()

    def __call__(self, r):
        with self.lock:
            if r.path == "/open/avatar":
                return envelope({"avatars": [{"id": 37}]})
            if r.path == "/open/product":
                return envelope({"id": 1, "prj_id": "P" * 32})
            if r.path == RENDER:
                self.rendered += 1
                return DROP if self.rendered <= self.drop_renders else envelope(None)
            if r.path == "/open/prj_info":
                self.reads += 1
                if not self.rendered or self.idle_reads is None or self.reads <= self.idle_reads:
                    return envelope({"status": 1, "progress": 0})
                return envelope({"status": 4, "progress": 100, "video_url": "https://res.example/v.mp4"})
            return Reply(404, b"no")


def _apply(run, manifest, url, state, *extra):
    result = run("apply", manifest, "--api-base", url, "--state", state, *FAST, *extra,
                 env={"JOGG_API_KEY": FAKE_KEY})
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    for event in events:  # needs-check, check retries and the preflight are documented events
        EVENTS.validate(event)
    return result, {e["key"]: e["status"] for e in events if e["event"] == "video"}


def test_a_dropped_render_answer_reading_status_1_for_a_while_is_never_rendered_twice(run, write, tmp_path):
    server = G0(idle_reads=4)
    with Scripted(server) as api:
        result, outcomes = _apply(run, write("m.yaml", MANIFEST), api.url, str(tmp_path / "s.json"))
        assert len(api.posts(RENDER)) == 1  # before: status 1 read as "never rendered", sent again
        assert result.exit_code == 0, result.stderr
        assert outcomes == {"a": "succeeded"}


def test_ambiguous_evidence_becomes_needs_check_and_the_user_settles_it(run, write, tmp_path):
    manifest, state = write("m.yaml", MANIFEST), str(tmp_path / "s.json")
    server = G0(idle_reads=None)
    with Scripted(server) as api:
        result, outcomes = _apply(run, manifest, api.url, state)
        assert (result.exit_code, outcomes) == (1, {"a": "needs-check"})
        assert "jogg-flow state adopt" in result.stderr and "state rerender" in result.stderr
        assert len(api.posts(RENDER)) == 1

        plan = run("plan", manifest, "--state", state, "--api-base", api.url)
        assert "needs-check" in plan.stdout and f"state rerender {manifest} a" in plan.stdout
        table = run("outputs", manifest, "--state", state, "--api-base", api.url)
        assert "needs-check" in table.stdout and "state adopt" in table.stderr

        again, outcomes = _apply(run, manifest, api.url, state)  # never re-rendered until settled
        assert (again.exit_code, outcomes, len(api.posts(RENDER))) == (1, {"a": "needs-check"}, 1)

        settled = run("state", "rerender", manifest, "a", "--state", state)
        assert settled.exit_code == 0, settled.stderr
        server.idle_reads = 0
        final, outcomes = _apply(run, manifest, api.url, state)
        assert (final.exit_code, outcomes, len(api.posts(RENDER))) == (0, {"a": "succeeded"}, 2)


def test_adopting_a_render_seen_in_the_dashboard(run, write, tmp_path):
    manifest, state = write("m.yaml", MANIFEST), str(tmp_path / "s.json")
    server = G0(idle_reads=None)
    with Scripted(server) as api:
        assert _apply(run, manifest, api.url, state)[0].exit_code == 1
        refused = run("state", "adopt", manifest, "nope", "X", "--state", state)
        assert refused.exit_code == 3 and "no video 'nope'" in refused.stderr
        assert run("state", "adopt", manifest, "a", "P" * 32, "--state", state).exit_code == 0
        assert State.load(state).videos["a"]["steps"]["render"] == "done"
        server.idle_reads = 0
        final, outcomes = _apply(run, manifest, api.url, state)
        assert (final.exit_code, outcomes, len(api.posts(RENDER))) == (0, {"a": "succeeded"}, 1)
        again = run("state", "rerender", manifest, "a", "--state", state)
        assert again.exit_code == 3 and "nothing to settle" in again.stderr


def test_v2_render_not_found_after_a_lost_answer_is_needs_check_not_a_second_render(run, write, tmp_path):
    manifest = write("m.yaml", "version: 1\napi: {version: v2}\n"
                     "products: [{key: a, url: 'https://shop.example/a', render: {avatar_id: 37}}]\n")
    config = Config(time_scale=60.0, render_seconds=6.0,
                    faults=[Fault("http_500", "POST /v2/create_video_from_product")])
    with Sandbox(config) as sb:
        result, outcomes = _apply(run, manifest, sb.url, str(tmp_path / "s.json"))
        assert (result.exit_code, outcomes) == (1, {"a": "needs-check"})
        assert sb.stats()["requests"]["POST /v2/create_video_from_product"] == 1


def test_v2_render_found_after_a_lost_answer_is_adopted(run, write, tmp_path):
    manifest = write("m.yaml", "version: 1\napi: {version: v2}\n"
                     "products: [{key: a, url: 'https://shop.example/a', render: {avatar_id: 37}}]\n")
    config = Config(time_scale=60.0, render_seconds=6.0,
                    faults=[Fault("drop_after_commit", "POST /v2/create_video_from_product")])
    with Sandbox(config) as sb:
        result, outcomes = _apply(run, manifest, sb.url, str(tmp_path / "s.json"))
        assert (result.exit_code, outcomes) == (0, {"a": "succeeded"}), result.stderr
        assert sb.stats()["renders_accepted"] == 1


@pytest.mark.parametrize("version", ["open", "v2"])
def test_a_server_answering_html_404_everywhere_stops_apply_at_once(run, write, tmp_path, version):
    page = b"<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1>" \
           b"</center><hr><center>nginx</center></body></html>"
    manifest = write("m.yaml", f"version: 1\napi: {{version: {version}}}\nproducts:\n" + "".join(
        f"  - {{key: p{i}, url: 'https://shop.example/{i}', render: {{avatar_id: 37}}}}\n" for i in range(5)))
    with Scripted(lambda r: Reply(404, page, {"Content-Type": "text/html"})) as api:
        started = time.monotonic()
        result, _ = _apply(run, manifest, api.url, str(tmp_path / "s.json"))
        assert result.exit_code == 1
        assert len(api.posts()) <= 1  # the Bar; the preflight's free GET sends none
        assert "404" in result.stderr and f"api.version {version} is not served at {api.url}" in result.stderr
        assert time.monotonic() - started < 30


def test_bare_404s_on_every_status_read_end_that_video_as_needs_check_not_polled_to_the_timeout(
        run, write, tmp_path):
    """Only the preflight decides that a generation is not served: a 404 reading a render
    JoggAI accepted is read again, then needs-check (never failed, never a second render)."""
    def handler(r):
        if r.path == "/open/avatar":
            return envelope({"avatars": []})
        if r.path == "/open/product":
            return envelope({"id": 1, "prj_id": "P" * 32})
        if r.path == RENDER:
            return envelope(None)
        return Reply(404, b"<html>gone</html>", {"Content-Type": "text/html"})

    with Scripted(handler) as api:
        started = time.monotonic()
        result, outcomes = _apply(run, write("m.yaml", MANIFEST), api.url, str(tmp_path / "s.json"),
                                  "--timeout", "900")
        assert (result.exit_code, outcomes) == (1, {"a": "needs-check"})
        assert "state adopt" in result.stderr and time.monotonic() - started < 60
        assert len(api.posts(RENDER)) == 1


def test_a_run_killed_while_its_render_queues_for_the_budget_leaves_nothing_to_check(write, tmp_path):
    """A render is recorded in flight only once its POST holds a budget slot: SIGKILL while
    it waits for the budget leaves no in-flight mark, so the next apply renders it without a
    needs-check (under v1 every in-flight render would end as one)."""
    manifest = write("m.yaml", MANIFEST)
    state = tmp_path / "s.json"
    env = {**os.environ, "JOGG_API_KEY": FAKE_KEY}
    env.pop("CI", None)
    with Sandbox(Config(time_scale=60.0, render_seconds=6.0)) as sb:
        env["JOGG_API_BASE"] = sb.url
        # One POST per 30 s: the product is made, then its render waits for the budget.
        proc = subprocess.Popen([sys.executable, "-m", "jogg_flow", "apply", manifest, "--state", str(state),
                                 "--post-rate", "1/30s", "--poll-interval", "0.05"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while sb.stats()["products_created"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # the render is now queued behind the budget
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert sb.stats()["renders_accepted"] == 0
        record = State.load(str(state)).videos["a"]
        assert record["steps"].get("create") == "done"
        assert "render" not in record["steps"], record["steps"]
        done = subprocess.run([sys.executable, "-m", "jogg_flow", "apply", manifest, "--state", str(state),
                               "--post-rate", "20/1s", "--poll-interval", "0.05", "--poll-max", "0.2"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "needs-check" not in done.stdout + done.stderr
        assert sb.stats()["renders_accepted"] == 1
