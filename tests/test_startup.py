"""What a command pays for: the collector paused while a manifest loads and on again for a run,
and libraries imported only on the path that needs them. Real processes, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.conftest import FAKE_KEY, ROOT

# Runs the console entry point and reports, at exit, the collector's state and what was imported.
PROBE = """
import atexit, gc, json, sys
from jogg_flow.cli import main
atexit.register(lambda: print(json.dumps({"gc": gc.isenabled(), "frozen": gc.get_freeze_count(),
    "modules": sorted(m for m in ("jsonschema", "jinja2", "requests", "urllib3", "fastjsonschema") if m in sys.modules),
    "ours": sorted(m for m in sys.modules if m.startswith("jogg_flow.")),
    "others": sorted(m for m in ("http.server", "xml.etree.ElementTree", "psycopg", "difflib", "yaml")
                     if m in sys.modules)}),
    file=sys.stderr))
main(sys.argv[1:])
"""


def _probe(*args: str, tmp_path) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JOGG_API_KEY": FAKE_KEY}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    return proc.returncode, json.loads(proc.stderr.strip().splitlines()[-1])


def _manifest(tmp_path, body: str) -> str:
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\nproducts:\n" + body)
    return str(path)


def test_validate_loads_with_the_collector_paused_and_imports_frozen(tmp_path):
    path = _manifest(tmp_path, "  - key: a\n    url: https://shop.example/a\n")
    code, seen = _probe("validate", path, tmp_path=tmp_path)
    assert code == 0
    assert seen["gc"] is False and seen["frozen"] > 1000
    # A valid manifest without templates needs neither jsonschema, Jinja nor an HTTP stack.
    assert seen["modules"] == ["fastjsonschema"]


def test_an_invalid_manifest_brings_jsonschema_for_its_messages(tmp_path):
    path = _manifest(tmp_path, "  - key: a\n    url: https://shop.example/a\n    kee: 1\n")
    code, seen = _probe("validate", path, tmp_path=tmp_path)
    assert code == 3
    assert "jsonschema" in seen["modules"] and "jinja2" not in seen["modules"]


def test_a_templated_value_brings_jinja(tmp_path):
    path = _manifest(tmp_path, "  - key: a\n    url: https://shop.example/a\n"
                               "    details: {title: '{{ product.key }}'}\n")
    code, seen = _probe("validate", path, tmp_path=tmp_path)
    assert code == 0
    assert "jinja2" in seen["modules"] and "jsonschema" not in seen["modules"]


def test_a_file_feed_and_the_gallery_need_no_http_stack(tmp_path):
    (tmp_path / "feed.csv").write_text("handle,link\na,https://shop.example/a\n")
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\nproducts_from:\n  - file: feed.csv\n    product:\n"
                    "      key: '{{ row.handle }}'\n      url: '{{ row.link }}'\n")
    for args in (("validate", str(path)), ("outputs", str(path), "--output", "html", "--out", "g.html")):
        code, seen = _probe(*args, tmp_path=tmp_path)
        assert code == 0, args
        assert "urllib3" not in seen["modules"] and "requests" not in seen["modules"], args


def test_apply_collects_again_for_its_run(tmp_path):
    path = _manifest(tmp_path, "  - key: a\n    url: https://shop.example/a\n")
    code, seen = _probe("apply", path, "--sandbox", "--poll-interval", "0.05", tmp_path=tmp_path)
    assert code == 0
    assert seen["gc"] is True


def test_a_loaded_manifest_keeps_product_lines_not_the_node_tree(tmp_path):
    import yaml

    from jogg_flow.manifest import load_manifest

    path = _manifest(tmp_path, "".join(f"  # product {i}\n  - key: p{i}\n    url: https://shop.example/{i}\n"
                                       for i in range(5)))
    manifest = load_manifest(path, environ={})
    assert [manifest.line_of(v) for v in manifest.videos] == [4, 7, 10, 13, 16]
    # The nodes (five times the size of the values) are gone once the values are built.
    assert not any(isinstance(v, yaml.Node) for v in vars(manifest.doc).values())
    # An error found later is still placed: the text is composed again for it.
    assert manifest.doc.problem(("products", 3, "url"), "x").line == 14


def test_plan_and_a_no_op_apply_on_a_state_with_an_api_identity_import_no_http_stack(tmp_path, sandbox):
    from jogg_flow.app import online as runner

    path = _manifest(tmp_path, "  - key: a\n    url: https://shop.example/a\n")
    state = str(tmp_path / "s.json")
    from jogg_flow.app.scope import Scope

    settings = runner.ApplySettings(poll_interval=0.05, poll_max=0.05)
    scope = Scope(path, state=state, api_base=sandbox.url, environ={"JOGG_API_KEY": FAKE_KEY})
    assert runner.apply(scope, settings).exit_code == 0
    assert json.loads((tmp_path / "s.json").read_text())["identity"]["base"].startswith("http://127.0.0.1:")
    for command in ("plan", "apply"):
        code, seen = _probe(command, path, "--state", state, "--api-base", sandbox.url, tmp_path=tmp_path)
        assert code == 0, command
        # The state's API identity is compared without an HTTP client: nothing to send.
        assert "requests" not in seen["modules"] and "urllib3" not in seen["modules"], command


def test_every_command_has_a_home_and_loads_only_its_own_module(tmp_path):
    import importlib

    from jogg_flow.cli import HOMES, cli

    for home in set(HOMES.values()):
        importlib.import_module(f"jogg_flow.cli.{home}")
    # A command added without a home would load only when its module is imported by chance.
    assert set(cli.commands) == set(HOMES)
    for name, command in cli.commands.items():
        assert command.callback is not None and command.callback.__module__ == f"jogg_flow.cli.{HOMES[name]}", name

    code, seen = _probe("--version", tmp_path=tmp_path)
    assert code == 0
    # The group and the error handling only: no command, no manifest reader, no YAML.
    assert seen["ours"] == ["jogg_flow.cli", "jogg_flow.cli.app", "jogg_flow.errors", "jogg_flow.text"]
    assert seen["others"] == []


def test_validate_and_a_run_against_joggai_leave_the_sandbox_gallery_and_junit_unloaded(tmp_path, sandbox):
    path = _manifest(tmp_path, "  - key: a\n    url: https://shop.example/a\n")
    code, seen = _probe("validate", path, tmp_path=tmp_path)
    assert code == 0
    # The pre-commit hook's command: the manifest's reader, neither the planner, the state,
    # the reports nor any other command.
    unneeded = ("jogg_flow.app.online", "jogg_flow.app.offline", "jogg_flow.engine", "jogg_flow.state",
                "jogg_flow.sandbox", "jogg_flow.ui", "jogg_flow.cli.run", "jogg_flow.cli.preview",
                "jogg_flow.cli.tools", "jogg_flow.cli.state_cmds")
    assert not [m for m in seen["ours"] if m.startswith(unneeded)], seen["ours"]
    assert seen["others"] == ["yaml"], seen["others"]

    state = str(tmp_path / "s.json")
    code, seen = _probe("apply", path, "--state", state, "--api-base", sandbox.url, "--poll-interval", "0.05",
                        tmp_path=tmp_path)
    assert code == 0
    assert "jogg_flow.engine.executor" in seen["ours"]  # it did run
    unused = ("jogg_flow.sandbox", "jogg_flow.ui.gallery", "jogg_flow.ui.junit", "jogg_flow.cli.tools")
    assert not [m for m in seen["ours"] if m.startswith(unused)], seen["ours"]
    assert "http.server" not in seen["others"] and "xml.etree.ElementTree" not in seen["others"]


def test_a_run_freezes_what_it_loaded_out_of_the_collectors_sight(tmp_path):
    """The modules, the manifest and the plan outlive the run: its collections skip them."""
    path = _manifest(tmp_path, "  - key: a\n    url: https://shop.example/a\n")
    _, validated = _probe("validate", path, tmp_path=tmp_path)
    code, applied = _probe("apply", path, "--sandbox", "--poll-interval", "0.05", tmp_path=tmp_path)
    assert code == 0 and applied["gc"] is True
    # Frozen again once loaded (the executor, the HTTP stack, the sandbox): not only at start.
    assert applied["frozen"] > validated["frozen"] + 10_000, (applied["frozen"], validated["frozen"])
