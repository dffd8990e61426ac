"""The GitHub Action (action.yml): a composite action whose steps are shell, run here as
plain bash the way the runner runs them, against the built-in sandbox. (Its install step,
`pip install` from the action's checkout, is what .ci/run does with the built wheel.)"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Any

import yaml

from tests.conftest import ROOT

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())


def _expand(value: str, inputs: dict[str, str], env: dict[str, str]) -> str:
    """`${{ inputs.X }}` and `${{ github.action_path }}` as the runner substitutes them."""
    def one(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if expr.startswith("inputs."):
            return inputs[expr.removeprefix("inputs.")]
        if expr == "github.action_path":
            return str(ROOT)
        raise AssertionError(f"unexpected expression {expr!r}")
    return re.sub(r"\$\{\{(.*?)\}\}", one, value)


def _run_action(tmp_path: pathlib.Path, given: dict[str, str]) -> dict[str, dict[str, str]]:
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    inputs.update(given)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "JOGG_"))}
    base.update({"GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(tmp_path / "runner-temp"),
                 "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                 "PYTHONPATH": str(ROOT), "JOGG_FLOW_BIN": str(pathlib.Path(sys.executable).parent / "jogg-flow")})
    (tmp_path / "runner-temp").mkdir()
    outputs: dict[str, dict[str, str]] = {}
    for step in ACTION["runs"]["steps"]:
        assert step["shell"] == "bash" and "${{" not in step["run"], "values reach the script via env only"
        if step["name"].startswith("Install"):
            continue  # the current environment's jogg-flow stands for the installed one
        condition = step.get("if", "")
        if condition and not (given.get("command") in ("apply", "preview") and given.get("output-dir")):
            continue
        out_file = tmp_path / f"out-{step.get('id', 'x')}"
        out_file.write_text("")
        env = {**base, "GITHUB_OUTPUT": str(out_file), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
        env.update({k: _expand(str(v), inputs, env) for k, v in (step.get("env") or {}).items()})
        proc = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, (step["name"], proc.stdout, proc.stderr)
        outputs[step.get("id", "")] = _parse_outputs(out_file.read_text())
    return outputs


def _parse_outputs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<")[0]:
            name, delimiter = line.split("<<", 1)
            out[name] = "\n".join(iter(lines.__next__, delimiter))
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
    return out


def test_the_action_applies_a_manifest_against_the_sandbox_and_writes_the_gallery(tmp_path):
    shutil.copy(ROOT / "manifests" / "spring-launch.yaml", tmp_path / "m.yaml")
    outputs = _run_action(tmp_path, {"command": "apply", "manifests": "m.yaml", "sandbox": "true",
                                     "output-dir": "gallery"})
    run = outputs["run"]
    assert int(run["succeeded"]) >= 1 and "failed" not in run
    videos: list[dict[str, Any]] = json.loads(run["videos"])
    assert {v["status"] for v in videos} == {"succeeded"}
    assert pathlib.Path(run["videos-file"]).is_file()
    assert outputs["gallery"]["path"] == "gallery/index.html"
    assert (tmp_path / "gallery" / "index.html").read_text().count('class="card"') == len(videos)
    assert (tmp_path / "gallery" / "videos.csv").is_file()


def test_the_action_validates_and_refuses_an_unknown_command(tmp_path):
    shutil.copy(ROOT / "manifests" / "minimal.yaml", tmp_path / "m.yaml")
    _run_action(tmp_path, {"command": "validate", "manifests": "m.yaml"})
    inputs = {"command": "destroy", "manifests": "m.yaml"}
    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "run")
    env = {**os.environ, "JOGG_FLOW_BIN": str(pathlib.Path(sys.executable).parent / "jogg-flow"), **{k: _expand(str(v), {**{n: "" for n in ACTION["inputs"]}, **inputs}, {})
                            for k, v in step["env"].items()}}
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3 and "command must be validate, plan, preview or apply" in proc.stdout


def test_the_action_previews_on_a_pull_request_with_a_summary_and_the_gallery(tmp_path):
    shutil.copy(ROOT / "manifests" / "previews.yaml", tmp_path / "m.yaml")
    outputs = _run_action(tmp_path, {"command": "preview", "manifests": "m.yaml", "sandbox": "true",
                                     "output-dir": "gallery"})
    summary = (tmp_path / "summary.md").read_text()
    assert "### jogg-flow previews: previews" in summary
    assert summary.count("| succeeded |") == 6  # two videos, three styles each
    page = (tmp_path / "gallery" / "index.html").read_text()
    assert page.count('class="previews"') == 2 and outputs["gallery"]["path"] == "gallery/index.html"


def test_the_action_is_a_composite_that_installs_from_its_own_checkout():
    assert ACTION["runs"]["using"] == "composite"
    install = ACTION["runs"]["steps"][0]
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert '"$ACTION_PATH[postgres]"' in install["run"]
    assert set(ACTION["inputs"]) >= {"command", "manifests", "state", "api-key", "select", "output-dir"}


def test_the_action_passes_its_rerender_rule_to_plan(tmp_path):
    shutil.copy(ROOT / "manifests" / "minimal.yaml", tmp_path / "m.yaml")
    inputs = {n: str(spec.get("default", "")) for n, spec in ACTION["inputs"].items()}
    inputs.update({"command": "plan", "manifests": "m.yaml", "sandbox": "true", "rerender-unseen-after": "soon"})
    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "run")
    env = {**os.environ, "JOGG_FLOW_BIN": str(pathlib.Path(sys.executable).parent / "jogg-flow"),
           **{k: _expand(str(v), inputs, {}) for k, v in step["env"].items()}}
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3 and "--rerender-unseen-after" in proc.stderr, proc.stderr
