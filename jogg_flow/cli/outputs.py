"""What a run made: outputs (text, JSON, CSV, the HTML gallery)."""

from __future__ import annotations

import os
from typing import Any

import click

from ..app import offline as offline_cmds
from ..app.scope import Scope
from ..state.status import Status
from ..ui import junit, report
from .app import (
    _json_errors,
    _named_state,
    _sandbox_or_base,
    _warn,
    api_base_option,
    cli,
    sandbox_flag,
    select_option,
    state_option,
)
from .run import kept_file, sandbox_media_dir


@cli.command()
@click.argument("manifest", type=click.Path())
@state_option
@select_option
@sandbox_flag
@api_base_option
@click.option("--output", "output", type=click.Choice(["text", "json", "csv", "html", "junit"]),
              default=None, help="text (a table), json, csv, html (a page with every video to watch) or "
              "junit (JUnit XML for GitLab, Jenkins, Azure) [text].")
@click.option("--format", "fmt", type=click.Choice(["table", "text", "json", "csv", "html"]), default=None,
              hidden=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write to FILE instead of stdout (for html: the page, e.g. gallery.html).")
@click.option("--media", "media", type=click.Path(file_okay=False), metavar="DIR",
              help="The --download DIR of apply: the page plays those files [with --sandbox: "
              ".jogg-flow/sandbox-media].")
def outputs(manifest: str, state: str | None, select: tuple[str, ...], sandbox: bool,
            api_base: str | None, output: str | None, fmt: str | None, out: str | None,
            media: str | None) -> int:
    """Per video: key, project id, status, video URL, cover URL, duration; or a gallery page."""
    chosen = output or {"table": "text"}.get(fmt or "", fmt) or "text"
    _json_errors(chosen == "json")
    _sandbox_or_base(sandbox, api_base)
    rows: list[dict[str, Any]] = []
    if chosen == "html":
        text = _gallery(manifest, state, select, sandbox, api_base, out, media)
    else:
        rows = offline_cmds.outputs(Scope(manifest, state=state, select=select, sandbox=sandbox,
                                          api_base=api_base), warn=_warn)
        if sandbox:
            rows = [_kept(manifest, row) for row in rows]
        text = (junit.report(os.path.basename(manifest), rows) if chosen == "junit" else
                report.format_rows(rows, "table" if chosen == "text" else chosen))
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text.rstrip("\n"))
    for row in rows:
        if row["status"] == Status.NEEDS_CHECK and chosen == "text":
            click.echo(report.settle_hint(manifest, row["key"], _named_state(state)), err=True)
    return 0


def _kept(manifest: str, row: dict[str, Any]) -> dict[str, Any]:
    """A --sandbox video's row links the files --sandbox kept: the sandbox's URLs died with it."""
    for field, suffix in (("video_url", ".mp4"), ("cover_url", ".cover.png")):
        path = kept_file(manifest, row["key"], suffix)
        if row.get(field) and os.path.isfile(path):
            row = {**row, field: path}
    return row


def _gallery(manifest: str, state: str | None, select: tuple[str, ...], sandbox: bool,
             api_base: str | None, out: str | None, media: str | None) -> str:
    from ..ui import gallery

    loaded, keys, records = offline_cmds.gallery_records(
        Scope(manifest, state=state, select=select, sandbox=sandbox, api_base=api_base), warn=_warn)
    media = media or (sandbox_media_dir(manifest) if sandbox else None)
    page_dir = os.path.dirname(os.path.abspath(out)) if out else os.getcwd()
    return gallery.page(loaded.name, gallery.cards(loaded, keys, records, media, page_dir))
