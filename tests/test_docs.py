"""docs/github-actions.md reads once through: each section once (that every workflow in it is
whole and passes the linters is tests/test_docs_workflows.py's and .ci/run's)."""

from __future__ import annotations

import re

from tests.conftest import ROOT

DOC = (ROOT / "docs" / "github-actions.md").read_text(encoding="utf-8")


def test_each_section_once():
    headings = re.findall(r"^## (.+)$", DOC, flags=re.MULTILINE)
    assert len(headings) == len(set(headings)), headings
