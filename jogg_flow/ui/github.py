"""GitHub Actions: annotations on the manifest's lines, a step summary, step outputs.

Active when GITHUB_ACTIONS=true. Workflow commands are documented at
docs.github.com/actions/reference/workflow-commands-for-github-actions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import Problem
from ..state.status import Status
from ..text import printable


def active(environ: Mapping[str, str]) -> bool:
    """Whether we run inside a GitHub Actions job."""
    return environ.get("GITHUB_ACTIONS") == "true"


def _data(text: str) -> str:
    # A workflow command is one line: line breaks escaped as GitHub documents, every other
    # control character shown, never obeyed (a raw newline would start a command of its own:
    # `::add-mask::`, `::stop-commands::`).
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, file: str | None = None, line: int | None = None,
               col: int | None = None, title: str | None = None) -> str:
    """One `::error file=...,line=...::message` command line."""
    props = [f"{k}={_prop(str(v))}" for k, v in
             (("file", file), ("line", line), ("col", col), ("title", title)) if v is not None]
    return f"::{level} {','.join(props)}::{_data(message)}" if props else f"::{level}::{_data(message)}"


def outcome_level(status: str, exit_code: int) -> str | None:
    """The annotation an apply outcome earns: an error for a video that failed or needs
    checking; a warning for one left pending or rendering by a run that did not end well
    (--timeout, Ctrl-C, an API error); none otherwise (--no-wait leaves renders by design)."""
    if status in (Status.FAILED, Status.ERROR, Status.NEEDS_CHECK):
        return "error"
    if status in (Status.PENDING, Status.RENDERING) and exit_code != 0:
        return "warning"
    return None


def problem_annotations(problems: Iterable[Problem]) -> list[str]:
    """Manifest problems as error annotations on their lines."""
    return [annotation("error", p.message, p.file, p.line, p.col, "jogg-flow") for p in problems]


def gallery_link(environ: Mapping[str, str]) -> str | None:
    """Where the gallery will be, when the workflow says it uploads one as an artifact
    (`JOGG_FLOW_GALLERY_ARTIFACT=NAME`): the run's page, whose Artifacts list holds it.
    An artifact's own URL needs its id, which exists only after the upload step."""
    artifact = environ.get("JOGG_FLOW_GALLERY_ARTIFACT", "").strip()
    server, repo, run = (environ.get(k, "") for k in
                         ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if not (artifact and server.startswith("https://") and repo and run.isdigit()):
        return None
    return f"{server}/{repo}/actions/runs/{run}#artifacts"


def summary_markdown(name: str, rows: list[dict[str, Any]], gallery: str | None = None,
                     artifact: str = "") -> str:
    """The step summary: one row per video with its status and link, and the gallery's
    artifact when there is one."""
    lines = [f"### jogg-flow: {_cell(name)}", ""]
    if gallery and _plain(gallery):
        lines += [f"Watch the videos: download the **{_cell(artifact)}** artifact from "
                  f"[this run's artifacts]({gallery}) and open its `index.html`.", ""]
    lines += ["| video | status | link |", "|---|---|---|"]
    for row in rows:
        url = row.get("video_url")
        # A URL comes from the API or a state file: only a plain http(s) one becomes a link.
        link = f"[video]({url})" if _plain(url) else ""
        lines.append(f"| `{_cell(str(row['key']))}` | {_cell(str(row['status']))} | {link} |")
    return "\n".join(lines) + "\n\n"


def _plain(url: Any) -> bool:
    """A URL from the API or a state file becomes a link only when it is a plain http(s) one."""
    return isinstance(url, str) and url.startswith(("https://", "http://")) and \
        not any(c in url for c in "()[]|`<> \t\r\n")


def _cell(text: str) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(printable(text).split()).replace("|", "\\|").replace("`", "'")


def output_lines(rows: list[dict[str, Any]]) -> str:
    """`$GITHUB_OUTPUT` content: counts, and every video as JSON under a random delimiter."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
    out = [f"{status}={n}" for status, n in sorted(counts.items())]
    out += [f"videos<<{delimiter}", json.dumps(rows), delimiter]
    return "\n".join(out) + "\n"


def append(path: str | None, text: str) -> str | None:
    """Append to a file GitHub named in the environment (no-op when unset); a failure is
    returned as a message, since the videos themselves are done by then."""
    if not path:
        return None
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as err:
        return f"cannot write {path}: {err.strerror}"
    return None
