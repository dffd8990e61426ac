"""preview: several visual styles of each video from one request (v2), before paying for a render."""

from __future__ import annotations

import os
from typing import Any

import click

from ..api.budget import Waits
from ..app.scope import Scope
from ..state.status import Status
from ..text import printable
from ..ui import github, report
from ..ui.gallery import preview_file
from .app import _json_errors, _output_lost, _sandbox_or_base, cli
from .run import (
    _approval,
    _stop_on_signals,
    lock_timeout_option,
    reporter_factory,
    sandbox_media_dir,
    spending_options,
    summary_event,
)


@cli.command()
@click.argument("manifest", type=click.Path())
@spending_options
@click.option("--max-credits", type=click.IntRange(min=0), default=None, metavar="N",
              help="Refuse previews estimated to cost more than N credits; stop submitting at N.")
@lock_timeout_option
def preview(manifest: str, state: str | None, select: tuple[str, ...], output: str, sandbox: bool,
            api_base: str | None, parallelism: int, post_rate: tuple[int, float] | None,
            poll_interval: float | None, poll_max: float | None, timeout: float, request_timeout: float,
            no_wait: bool, retry_failed: bool, allow_http: bool, allow_partial: bool,
            heartbeat: float | None, quiet: bool, verbose: int, yes: bool, max_credits: int | None,
            lock_timeout: float | None) -> int:
    """Preview the visual styles each video lists in render.preview_styles (api.version v2):
    one request per video previews them all, at half a render's price. A second run of an
    unchanged manifest sends nothing. Then set render.visual_style to the style you choose:
    `apply` renders it from its preview."""
    from ..app import online as runner

    _json_errors(output == "json", events=True)
    _sandbox_or_base(sandbox, api_base)
    scope = Scope(manifest, state=state, select=select, sandbox=sandbox, api_base=api_base,
                  retry_failed=retry_failed)
    settings = runner.ApplySettings(
        post_rate=post_rate, parallelism=parallelism, poll_interval=poll_interval, poll_max=poll_max,
        timeout=timeout, request_timeout=request_timeout, wait=not no_wait, allow_http=allow_http,
        allow_partial=allow_partial, max_credits=max_credits, lock_timeout=lock_timeout or 0.0, waits=Waits(),
        on_lock_wait=lambda text: click.echo(printable(text), err=True))
    make = reporter_factory(output, verbose, quiet, heartbeat, sandbox, post_rate, settings.waits)
    reporter, confirm = _approval(make, manifest, sandbox, output, yes)
    try:
        with _stop_on_signals(reporter) as stop:
            reporter.stop = stop
            result = runner.preview(scope, settings, emit=reporter, stop=stop, confirm=confirm)
        reporter(summary_event(result.outcomes, result.requests, result.exit_code, result.credits_charged,
                               int(result.estimate.credits + 0.5)))
    except runner.NotApproved as err:
        click.echo(printable(str(err).replace("Apply", "Preview")), err=True)
        return err.exit_code
    finally:
        reporter.close()
    if reporter.lost:
        _output_lost()
    if result.stopped_by:
        click.echo(f"error: stopped: {printable(result.stopped_by)}", err=True)
    rows = _rows(result, manifest, sandbox)
    if output == "text":
        _shown(rows, result.outcomes, manifest, sandbox)
    if github.active(os.environ):
        problem = github.append(os.environ.get("GITHUB_STEP_SUMMARY"), github.previews_markdown(
            result.manifest.name, rows, github.gallery_link(os.environ),
            os.environ.get("JOGG_FLOW_GALLERY_ARTIFACT", "")))
        if problem:
            click.echo(github.annotation("warning", problem, title="jogg-flow"))
    return result.exit_code


def _rows(result: Any, manifest: str, sandbox: bool) -> list[dict[str, Any]]:
    """Each video's previews as `outputs` lists them; the in-process sandbox's URLs die with
    it, so its clips are kept beside its videos and named instead (whatever the output)."""
    rows = [{"key": o.key, "previews": report.previews_rows(result.records.get(o.key) or {})}
            for o in result.outcomes]
    if sandbox:
        _keep_previews(manifest, result.records)
        folder = sandbox_media_dir(manifest)
        for row in rows:
            for p in row["previews"]:
                if p["status"] == Status.SUCCEEDED:
                    kept = os.path.join(folder, preview_file(row["key"], p["style"], ".mp4"))
                    p["video_url"] = os.path.relpath(kept)
    return rows


def _shown(rows: list[dict[str, Any]], outcomes: Any, manifest: str, sandbox: bool) -> None:
    """The previews, a line per style, and what to do next."""
    table = report.previews_table(rows)
    if table:
        click.echo(table)
    if any(o.status == Status.SUCCEEDED for o in outcomes):
        click.echo(f"next: set render.visual_style to the style you choose; `jogg-flow apply {manifest}` "
                   "renders it from its preview (no fresh render). To look at them: "
                   f"jogg-flow outputs {manifest}{' --sandbox' if sandbox else ''} --output html "
                   "--out gallery.html", err=True)


def _keep_previews(manifest: str, records: dict[str, Any]) -> None:
    """The in-process sandbox's preview URLs die with it: keep its clips beside its videos."""
    from ..sandbox.media import keep

    keep(sandbox_media_dir(manifest), [
        preview_file(key, style, "") for key, record in records.items()
        for style, entry in (((record.get("previews") or {}).get("styles")) or {}).items()
        if isinstance(entry, dict) and entry.get("status") == Status.SUCCEEDED])
