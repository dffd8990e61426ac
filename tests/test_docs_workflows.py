"""The GitHub workflows in the docs are whole (so .ci/run's actionlint and zizmor see every
one of them) and follow the hardening those linters ask for. The linters themselves run in
.ci/run (they need node and zizmor); these checks need neither, nor the network."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
from typing import Any

import yaml

from tests.conftest import ROOT

PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def _workflows(tmp_path: pathlib.Path) -> dict[str, dict[Any, Any]]:
    out = tmp_path / "workflows"
    done = subprocess.run([sys.executable, str(ROOT / ".ci" / "workflows.py"), str(out)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yml"))}


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_every_workflow_in_the_docs_is_whole_and_extracted(tmp_path):
    workflows = _workflows(tmp_path)
    # The PostgreSQL one (with the action), the reviewer's, the gallery's and the cache's.
    assert len(workflows) >= 4
    for name, workflow in workflows.items():
        # PyYAML reads the key `on` as True.
        assert {"name", True, "jobs", "permissions"} <= set(workflow), name


def test_a_piece_of_a_workflow_is_refused(tmp_path):
    """The docs once showed jobs and steps without their workflow: no linter saw them."""
    root = tmp_path / "repo"
    (root / ".ci").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / ".ci" / "workflows.py").write_text((ROOT / ".ci" / "workflows.py").read_text())
    (root / "README.md").write_text("# x\n")
    (root / "docs" / "ci.md").write_text(
        "# CI\n\n```yaml\n  apply:\n    runs-on: ubuntu-latest\n    steps:\n      - run: jogg-flow apply m.yaml\n```\n")
    done = subprocess.run([sys.executable, str(root / ".ci" / "workflows.py"), str(tmp_path / "out")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "docs/ci.md:3: a piece of a GitHub workflow" in done.stderr


def test_actions_are_pinned_to_commit_shas(tmp_path):
    uses = [step["uses"] for workflow in _workflows(tmp_path).values() for step in _steps(workflow)
            if "uses" in step]
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    uses += [step["uses"] for step in action["runs"]["steps"] if "uses" in step]
    assert uses
    # The comment after the SHA is part of the line, not of the value: read the lines too.
    lines = [line.split("uses:", 1)[1].strip() for path in (ROOT / "docs").glob("*.md")
             for line in path.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]
    for line in lines:
        if line.startswith("OWNER/jogg-flow@"):  # the placeholder owner has no commits to pin to
            continue
        assert PINNED.match(line), line


def test_workflows_follow_the_hardening(tmp_path):
    for name, workflow in _workflows(tmp_path).items():
        assert "secrets." not in yaml.safe_dump(workflow.get("env", {})), name
        for job_name, job in workflow["jobs"].items():
            where = f"{name}: {job_name}"
            assert "permissions" in job, where
            assert "secrets." not in yaml.safe_dump(job.get("env", {})), where
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step.get("with", {}).get("persist-credentials") is False, where
                # Values reach a script through env, never pasted into it.
                assert "${{" not in step.get("run", ""), where
                if "secrets." in yaml.safe_dump(step):
                    # A secret goes to the step that uses it: its env, or an action's input.
                    assert "secrets." in yaml.safe_dump({**step.get("env", {}), **step.get("with", {})}), where
