"""JUnit XML: one test case per video, the report GitLab, Jenkins, Azure Pipelines and
Buildkite show per item.

A video that succeeded (or needed nothing) passes; one that failed, ended in error or needs
a check is a failure with its reason; one still pending or rendering is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree

from ..state.status import OK_STATUSES, PROBLEMS

# XML 1.0 cannot hold these at all, not even escaped: an API's answer or a state may.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def report(suite: str, rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows (key, status, message, project_id, video_url) as one JUnit test suite."""
    failures = sum(1 for r in rows if r.get("status") in PROBLEMS)
    skipped = sum(1 for r in rows if r.get("status") not in PROBLEMS + OK_STATUSES)
    root = ElementTree.Element("testsuites", name="jogg-flow", tests=str(len(rows)),
                               failures=str(failures), skipped=str(skipped))
    group = ElementTree.SubElement(root, "testsuite", name=_text(suite), tests=str(len(rows)),
                                   failures=str(failures), errors="0", skipped=str(skipped))
    for row in rows:
        case = ElementTree.SubElement(group, "testcase", classname=_text(suite), name=_text(row["key"]))
        status = str(row.get("status"))
        reason = _text(row.get("message") or status)
        if status in PROBLEMS:
            ElementTree.SubElement(case, "failure", message=f"{status}: {reason}"[:500],
                                   type=status).text = reason
        elif status not in OK_STATUSES:
            ElementTree.SubElement(case, "skipped", message=f"{status}: the next apply goes on with it")
        details = [f"{name}: {_text(row[name])}" for name in ("project_id", "video_url")
                   if row.get(name)]
        if details:
            ElementTree.SubElement(case, "system-out").text = "\n".join(details)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def _text(value: Any) -> str:
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", str(value))
