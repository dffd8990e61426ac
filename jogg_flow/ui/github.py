"""GitHub Actions: annotations on the manifest's lines, a step summary, step outputs.

Active when GITHUB_ACTIONS=true. Workflow commands are documented at
docs.github.com/actions/reference/workflow-commands-for-github-actions.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from ..engine.planner import ago, epoch
from ..errors import Problem
from ..state.status import PROBLEMS, Status
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
    if status in PROBLEMS:
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


# GitHub refuses a step summary over 1 MiB (the whole summary is lost), keeps 1 MB of step
# outputs per job counted in UTF-16, and shows 10 annotations of a kind per step.
SUMMARY_LIMIT = 1024 * 1024 - 64 * 1024
OUTPUT_LIMIT = 1_000_000 - 100_000
ANNOTATIONS = 10
_REASON = 300  # characters of a failure's reason in the summary


def summary_markdown(name: str, rows: list[dict[str, Any]], gallery: str | None = None,
                     artifact: str = "", estimated: int | None = None, limit: int = SUMMARY_LIMIT,
                     now: float | None = None) -> str:
    """The step summary, at most `limit` bytes: the counts and the credits JoggAI deducted
    beside the plan's `estimated` ones; a row per video (failed and needs-check ones first,
    with their reason) while they fit, then how many more there are and where to see them;
    the gallery's artifact when there is one. `now` (seconds since the epoch; None: the
    clock's) is what a needs-check video's age is counted to."""
    now = time.time() if now is None else now
    head = [f"### jogg-flow: {_cell(name)}", "", f"**{_counts_text(rows)}**", ""]
    if estimated is not None:
        charged = [row["credits"] for row in rows if _number(row.get("credits"))]
        said = f"{sum(charged):g} deducted by JoggAI" if charged else "not reported by JoggAI"
        head += [f"Credits: {said}; the plan's estimate: {estimated}.", ""]
    if gallery and _plain(gallery):
        head += [f"Watch the videos: download the **{_cell(artifact)}** artifact from "
                 f"[this run's artifacts]({gallery}) and open its `index.html`.", ""]
    head += ["| video | status | credits | link | reason |", "|---|---|---|---|---|"]
    ordered = [r for r in rows if r.get("status") in PROBLEMS] + \
        [r for r in rows if r.get("status") not in PROBLEMS]
    size = len(("\n".join(head) + "\n").encode("utf-8")) + 200  # 200: room for the last line
    lines = list(head)
    for shown, row in enumerate(ordered):
        line = _summary_row(row, now)
        size += len(line.encode("utf-8")) + 1
        if size > limit:
            lines += ["", f"… and {len(ordered) - shown} more videos: see the gallery and the "
                      "`videos` file (`videos-file` output) of this run."]
            break
        lines.append(line)
    return "\n".join(lines) + "\n\n"


def previews_markdown(name: str, rows: list[dict[str, Any]], gallery: str | None = None,
                      artifact: str = "", limit: int = SUMMARY_LIMIT) -> str:
    """`preview`'s step summary (the review gate of a pull request): a row per video and
    style with its link, while they fit in `limit` bytes; the gallery's artifact to watch them."""
    lines = [f"### jogg-flow previews: {_cell(name)}", ""]
    if gallery and _plain(gallery):
        lines += [f"Watch them side by side: the **{_cell(artifact)}** artifact of "
                  f"[this run]({gallery}) (`index.html`).", ""]
    lines += ["Pick one per video with `render.visual_style`; `apply` renders it from its preview.", "",
              "| video | style | status | preview | credits |", "|---|---|---|---|---|"]
    size = len("\n".join(lines).encode("utf-8")) + 200
    every = [(row, p) for row in rows for p in row.get("previews") or ()]
    for shown, (row, p) in enumerate(every):
        url = p.get("video_url")
        cost = f"{p['credits']:g}" if _number(p.get("credits")) else ""
        line = (f"| `{_cell(str(row['key']))}` | {_cell(str(p['style']))} | {_cell(str(p['status']))} | "
                f"{f'[watch]({url})' if _plain(url) else ''} | {cost} |")
        size += len(line.encode("utf-8")) + 1
        if size > limit:
            lines += ["", f"… and {len(every) - shown} more previews: see the gallery."]
            break
        lines.append(line)
    return "\n".join(lines) + "\n\n"


def _summary_row(row: Mapping[str, Any], now: float) -> str:
    url = row.get("video_url")
    # A URL comes from the API or a state file: only a plain http(s) one becomes a link.
    link = f"[video]({url})" if _plain(url) else ""
    kept = row.get("kept")  # --sandbox: the file it kept on the runner (its URLs died with it)
    if not link and isinstance(kept, str) and kept and not any(c in kept for c in "`|\r\n"):
        link = f"`{kept}`"
    cost = f"{row['credits']:g}" if _number(row.get("credits")) else ""
    reason = str(row.get("message") or "") if row.get("status") in PROBLEMS else ""
    if len(reason) > _REASON:
        reason = reason[:_REASON - 1] + "…"
    return (f"| `{_cell(str(row['key']))}` | {_cell(_status_cell(row, now))} | {cost} | {link} "
            f"| {_cell(reason)} |")


def _status_cell(row: Mapping[str, Any], now: float) -> str:
    """A video's status; a needs-check one with its age ("needs-check for 3 h"), so a reader
    sees how long the evidence has said nothing."""
    status, since = str(row["status"]), row.get("needs_check_since")
    start = epoch(since) if status == Status.NEEDS_CHECK and isinstance(since, str) else None
    return status if start is None else f"{status} for {ago(max(0.0, now - start))}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row["status"])] = counts.get(str(row["status"]), 0) + 1
    return counts


def _counts_text(rows: list[dict[str, Any]]) -> str:
    counts = _counts(rows)
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no videos"


def _plain(url: Any) -> bool:
    """A URL from the API or a state file becomes a link only when it is a plain http(s) one."""
    return isinstance(url, str) and url.startswith(("https://", "http://")) and \
        not any(c in url for c in "()[]|`<> \t\r\n")


def _cell(text: str) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(printable(text).split()).replace("|", "\\|").replace("`", "'")


def output_lines(rows: list[dict[str, Any]], videos_file: str | None = None,
                 limit: int = OUTPUT_LIMIT, remaining: int | None = None) -> str:
    """`$GITHUB_OUTPUT` content: counts, `videos-file` (the full list's path, when written),
    and every video as JSON under a random delimiter while that fits in `limit` UTF-16 code
    units (GitHub's unit for its 1 MB of outputs per job); past it, `videos` is left out."""
    out = [f"{status}={n}" for status, n in sorted(_counts(rows).items())]
    if remaining is not None:  # --max-duration ended the run: the next job goes on
        out.append(f"remaining={remaining}")
    if videos_file:
        out.append(f"videos-file={_data(videos_file)}")
    delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
    inline = [f"videos<<{delimiter}", json.dumps(rows), delimiter]
    if _utf16_units("\n".join(out + inline)) <= limit:
        out += inline
    return "\n".join(out) + "\n"


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def write_videos_file(rows: list[dict[str, Any]], name: str, environ: Mapping[str, str],
                      fallback_dir: str) -> str | None:
    """The full list of videos as JSON for the job's later steps: in RUNNER_TEMP when GitHub
    gives one, else in `fallback_dir`. None (and nothing written) when it cannot be."""
    directory = environ.get("RUNNER_TEMP") or fallback_dir
    path = os.path.join(directory, f"jogg-flow-{name}-videos.json")
    try:
        os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(rows, fh)
    except OSError:
        return None
    return path


def limited_annotations(items: list[tuple[str, str, str | None, int | None]],
                        most: int = ANNOTATIONS) -> list[str]:
    """Annotation lines for (level, message, file, line) items, errors before warnings, at
    most `most` of a kind (GitHub shows no more): the last of a kind that overflows says how
    many more there are."""
    out = []
    for level in ("error", "warning"):
        mine = [i for i in items if i[0] == level]
        shown = mine if len(mine) <= most else mine[:most - 1]
        out += [annotation(level, message, file, line, title="jogg-flow") for _, message, file, line in shown]
        if len(mine) > most:
            word = "failed or need a check" if level == "error" else "were left unfinished"
            out.append(annotation(level, f"… and {len(mine) - len(shown)} more videos {word}: see "
                                  "the step summary", title="jogg-flow"))
    return out


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
