"""docs/github-actions.md reads once through: each section once, and every workflow in it
whole (`name`, `on`, `jobs`, each job with `runs-on` and `steps`), so it can be copied as is."""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT

DOC = (ROOT / "docs" / "github-actions.md").read_text(encoding="utf-8")


def test_each_section_once():
    headings = re.findall(r"^## (.+)$", DOC, flags=re.MULTILINE)
    assert len(headings) == len(set(headings)), headings


def test_every_workflow_is_complete():
    blocks = re.findall(r"^```yaml\n(.*?)^```$", DOC, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 4
    for block in blocks:
        workflow = yaml.safe_load(block)
        on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
        assert workflow.get("name") and on and workflow.get("jobs"), block[:200]
        for name, job in workflow["jobs"].items():
            assert job.get("runs-on") and job.get("steps"), name
            for step in job["steps"]:
                assert "uses" in step or "run" in step, (name, step)
            for needed in job.get("needs", []) if isinstance(job.get("needs"), list) else [job.get("needs")]:
                assert needed is None or needed in workflow["jobs"], (name, needed)
