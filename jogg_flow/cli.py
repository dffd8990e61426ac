"""The command line: parse arguments, call one function in `core`, map the result to an exit code."""

from __future__ import annotations

import errno
import gc
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import click

from . import __version__, core, github, planner, progress, report, schema
from . import state as state_store
from .errors import JoggFlowError, ManifestError, Problem, UsageError
from .manifest import load_manifest, parse_rate
from .sandbox import FAULT_KINDS, Config, Fault
from .starter import write_starter
from .state import unlock
from .status import of_record as shown_status


class _Cli(click.Group):
    """Maps every error to the documented exit codes (click would use 2 for usage)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        kwargs.setdefault("prog_name", "jogg-flow")
        _json_errors(False)
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as err:
            err.show()
            _json_error(3, err.format_message())
            sys.exit(3)
        except click.ClickException as err:
            err.show()
            _json_error(err.exit_code, err.format_message())
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("error: aborted; the next apply resumes from the state", err=True)
            _json_error(130, "aborted; the next apply resumes from the state")
            sys.exit(130)
        except JoggFlowError as err:
            _show(err)
            sys.exit(err.exit_code)
        except OSError as err:
            if err.errno not in _LOST_OUTPUT:
                raise
            _output_lost()
        sys.exit(code if isinstance(code, int) else 0)


# Writing to a pipe whose reader left (`| head -1`), a terminal gone, a closed descriptor.
_LOST_OUTPUT = {errno.EPIPE, errno.EIO, errno.EBADF}
OUTPUT_LOST = 141  # 128 + SIGPIPE, as a shell reports a process a closed pipe ended


def _output_lost() -> None:
    """Exit 141 quietly: stdout goes to /dev/null so Python's exit-time flush of what is
    still buffered cannot fail again ("Exception ignored ... BrokenPipeError"; the Python
    docs' advice for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    try:
        click.echo("error: output closed; stopped and saved the state (rerun resumes)", err=True)
    except (OSError, ValueError):
        pass
    sys.exit(OUTPUT_LOST)


_JSON_ERRORS: list[str | None] = [None]  # None, "object" or "event" (apply's lines)


def _json_errors(on: bool, events: bool = False) -> None:
    """The running command prints JSON: its errors go to stdout as one JSON object too;
    `events` (apply): as an `error` event, so every line fits the events schema."""
    _JSON_ERRORS[0] = ("event" if events else "object") if on else None


def _json_error(exit_code: int, message: str, problems: Sequence[Problem] = ()) -> None:
    """In JSON mode, the error as one line on stdout (the human line goes to stderr):
    `{"ok": false, "exit_code": N, "error": "...", "problems": [...]}`."""
    mode = _JSON_ERRORS[0]
    if mode is None:
        return
    _JSON_ERRORS[0] = None  # said once, whichever handler sees the error first
    error: dict[str, Any] = {"ok": False, "exit_code": exit_code, "error": message}
    if problems:
        error["problems"] = [p.__dict__ for p in problems]
    if mode == "event":
        error = {"v": progress.EVENTS_VERSION, "ts": round(time.time(), 3), "event": "error", **error}
    try:
        click.echo(json.dumps(error, sort_keys=mode == "event"))
    except OSError as err:  # stdout gone: the exit code and stderr still say it
        if err.errno not in _LOST_OUTPUT:
            raise


def _show(err: JoggFlowError) -> None:
    if isinstance(err, ManifestError):
        more = len(err.problems) - 1
        tail = f" (and {more} more)" if more else ""
        _json_error(err.exit_code, f"invalid manifest: {err.problems[0]}{tail}", err.problems)
        _problems(err.problems)
    else:
        _json_error(err.exit_code, str(err))
        click.echo(f"error: {err}", err=True)
        if github.active(os.environ):
            click.echo(github.annotation("error", str(err), title="jogg-flow"))


def _problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)
    if github.active(os.environ):
        for line in github.problem_annotations(problems):
            click.echo(line)


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_rate(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


state_option = click.option("--state", "state", metavar="PATH|URL", envvar="JOGG_FLOW_STATE",
                            help="State file, or postgresql://USER:PASSWORD@HOST/DB[#NAME] to keep the "
                            "state in PostgreSQL (env JOGG_FLOW_STATE; default: "
                            ".jogg-flow/NAME.state.json beside the manifest).")
api_base_option = click.option("--api-base", envvar="JOGG_API_BASE", metavar="URL",
                               help="JoggAI API base URL (the state must have been made against it).")


def _named_state(state: str | None) -> bool:
    """Whether --state was given on the command line (not through JOGG_FLOW_STATE)."""
    return state is not None and not os.environ.get("JOGG_FLOW_STATE")


def _sandbox_or_base(sandbox: bool, api_base: str | None) -> None:
    """`--sandbox` runs the built-in API: a `--api-base` given with it would be ignored silently."""
    source = click.get_current_context().get_parameter_source("api_base")
    if sandbox and api_base and source == click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError(f"--sandbox and --api-base {api_base} cannot be used together: "
                               "--sandbox runs the built-in API, --api-base names another one")


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)
select_option = click.option("--select", "select", multiple=True, metavar="GLOB",
                             help="Only these videos: a key glob or tag:NAME (repeatable).")
output_option = click.option("--output", "output", type=click.Choice(["text", "json"]),
                             default="text", show_default=True)
sandbox_flag = click.option("--sandbox", is_flag=True,
                            help="Use the built-in sandbox API (and its own state file).")


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jogg-flow")
def cli() -> None:
    """Declarative, resumable JoggAI promotional videos from a YAML manifest."""


@cli.command()
@click.argument("manifests", nargs=-1, required=True, type=click.Path(dir_okay=True))
@output_option
@click.option("--offline", is_flag=True, help="Do not fetch URL feeds (their products are not checked).")
def validate(manifests: tuple[str, ...], output: str, offline: bool) -> int:
    """Parse, schema-check and render MANIFESTS; print every problem as FILE:LINE:COL."""
    _json_errors(output == "json")  # an error past the manifests' problems (they are in the list)
    results = core.validate(manifests, offline=offline)
    if output == "json":
        click.echo(json.dumps([{"file": r.file, "ok": not r.problems,
                                "videos": len(r.manifest.videos) if r.manifest else 0,
                                "feeds": [f.__dict__ for f in r.manifest.feeds] if r.manifest else [],
                                "problems": [p.__dict__ for p in r.problems]} for r in results],
                              indent=2))
    for r in results:
        _problems(r.problems)
        for feed in r.manifest.feeds if r.manifest else ():
            if feed.note:
                click.echo(f"note: {feed.source}: {feed.note}", err=True)
        if output == "text" and r.manifest:
            n = len(r.manifest.videos)
            click.echo(f"{r.file}: ok ({n} video{'' if n == 1 else 's'})")
    return 3 if any(r.problems for r in results) else 0


@cli.command()
@click.argument("manifest", type=click.Path())
@state_option
@select_option
@output_option
@sandbox_flag
@api_base_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--check", is_flag=True,
              help="Also make apply's free reads: the key, the API generation, the credit left.")
@click.option("--out", "out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also save the plan to FILE: `apply FILE` runs exactly it, or refuses if the "
              "manifest or the state moved since.")
def plan(manifest: str, state: str | None, select: tuple[str, ...], output: str,
         sandbox: bool, api_base: str | None, detailed_exitcode: bool, check: bool,
         out: str | None) -> int:
    """Show what apply would do for every video. No API calls (unless --check)."""
    _json_errors(output == "json")
    _sandbox_or_base(sandbox, api_base)
    loaded, items, records = core.plan_with_records(manifest, state=state, select=select,
                                                    sandbox=sandbox, api_base=api_base, warn=_warn)
    # The shipped generations but G0 let a product carry several videos (api.*.shares_products).
    est = planner.estimate(items, records, shares_products=loaded.api_version != "open")
    rate = planner.post_rate(None, loaded.post_rate, planner.SANDBOX_SCALE if sandbox else 1.0)
    # The free reads come first, so a failing check is the only JSON document on stdout.
    checked = _plan_check(loaded, sandbox, api_base, est) if check else None
    if output == "json":
        doc = {"manifest": loaded.file, "name": loaded.name,
               "items": [i.as_dict(values=True) for i in items], "counts": planner.counts(items),
               "estimate": {"renders": est.renders, "credits": est.credits, "posts": est.posts,
                            "post_seconds": est.post_seconds(rate)}}
        click.echo(json.dumps({**doc, "check": checked} if checked else doc, indent=2))
    else:
        click.echo(report.plan_text(items, manifest))
        if est.renders:
            click.echo(report.estimate_text(est, rate, sandbox))
    if out:
        _save_plan(out, manifest, loaded, items, select, sandbox, state, api_base, est, rate)
    if checked and not checked["enough"]:
        click.echo(f"error: {checked['credits']:g} credits left, this plan needs about {est.credits}",
                   err=True)
        return 1
    changed = any(i.action in planner.CHANGES for i in items)
    return 2 if detailed_exitcode and changed else 0


def _plan_check(loaded: Any, sandbox: bool, api_base: str | None, est: planner.Estimate) -> dict[str, Any]:
    """`plan --check`: apply's free reads (the key, the generation, the credit left)."""
    from . import runner

    found = runner.check(loaded, runner.ApplySettings(sandbox=sandbox, api_base=api_base))
    left = "not reported" if found.credits is None else f"{found.credits:g}"
    click.echo(f"Check: the key works{f' (account {found.account})' if found.account else ''}; "
               f"api.version {loaded.api_version} answers; credit left: {left}.", err=True)
    return {"account": found.account, "credits": found.credits,
            "enough": found.credits is None or found.credits >= est.credits}


def _save_plan(out: str, manifest: str, loaded: Any, items: list[planner.PlanItem], select: tuple[str, ...],
               sandbox: bool, state: str | None, api_base: str | None, est: planner.Estimate,
               rate: tuple[int, float]) -> None:
    from . import saved_plan

    saved_plan.write(out, saved_plan.Planned(
        manifest, loaded, items, select, sandbox, core.state_path_for(loaded, state, sandbox),
        core.state_name(loaded, sandbox), core.target_identity(loaded, api_base, os.environ, sandbox),
        est, rate))
    click.echo(f"saved the plan to {out}; `jogg-flow apply {out}` runs exactly it "
               "(refused if the manifest or the state moves meanwhile)", err=True)


@cli.command()
@click.argument("manifest", type=click.Path())
@state_option
@select_option
@output_option
@sandbox_flag
@click.option("--api-base", envvar="JOGG_API_BASE", metavar="URL", help="JoggAI API base URL.")
@click.option("--parallelism", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Videos in their submit steps at once.")
@click.option("--post-rate", callback=_rate, metavar="N/Ts", help="POST budget, e.g. 20/60s.")
@click.option("--poll-interval", type=click.FloatRange(min=0.01), metavar="SECONDS",
              help="First and shortest wait between two status reads [15].")
@click.option("--poll-max", type=click.FloatRange(min=0.01), metavar="SECONDS",
              help="Longest wait between two status reads [120].")
@click.option("--timeout", type=click.FloatRange(min=0), default=1800.0, show_default=True,
              help="How long to wait for a submitted render.")
@click.option("--request-timeout", type=click.FloatRange(min=0.01), default=30.0, show_default=True,
              help="Seconds to wait for one API answer.")
@click.option("--download", type=click.Path(file_okay=False), metavar="DIR",
              help="Fetch each finished video and cover into DIR (resumable).")
@click.option("--no-wait", is_flag=True, help="Submit renders and exit; a later apply collects them.")
@click.option("--allow-http", is_flag=True,
              help="Send the key over plain http to a non-loopback API base (a proxy you trust).")
@click.option("--allow-partial", is_flag=True,
              help="Start even when the credit left does not cover the whole plan.")
@click.option("--heartbeat", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Without a terminal: a progress line this often (0: none) [30; 5 with --sandbox].")
@click.option("-q", "--quiet", is_flag=True, help="Only each video's outcome and the summary.")
@click.option("-v", "--verbose", count=True, help="Every step and status read.")
@click.option("--yes", "--auto-approve", "yes", is_flag=True,
              help="Do not ask on a terminal before spending (without a terminal it never asks).")
def apply(manifest: str, state: str | None, select: tuple[str, ...], output: str, sandbox: bool,
          api_base: str | None, parallelism: int, post_rate: tuple[int, float] | None,
          poll_interval: float | None, poll_max: float | None, timeout: float,
          request_timeout: float, download: str | None, no_wait: bool, allow_http: bool,
          allow_partial: bool, heartbeat: float | None, quiet: bool, verbose: int, yes: bool) -> int:
    """Create, update and render every video that needs it; resume anything unfinished.
    On a terminal it shows the plan and asks first (--yes skips that). MANIFEST may be a
    plan saved by `plan --out`: that plan runs, without a question, unless anything moved."""
    from . import runner, saved_plan  # requests and the executor load only for apply (~50 ms)

    _json_errors(output == "json", events=True)
    _sandbox_or_base(sandbox, api_base)
    saved = saved_plan.read(manifest)
    if saved is not None:
        saved_plan.conflicts(saved, select, sandbox, state)
        manifest, select, sandbox, yes = saved.manifest, saved.select, saved.sandbox, True
    settings = runner.ApplySettings(
        state=state, select=select, api_base=api_base, post_rate=post_rate,
        parallelism=parallelism, poll_interval=poll_interval, poll_max=poll_max,
        timeout=timeout, request_timeout=request_timeout, wait=not no_wait, sandbox=sandbox,
        download=download, allow_http=allow_http, allow_partial=allow_partial)
    budget = post_rate or (20, 60.0 / (runner.SANDBOX_SCALE if sandbox else 1.0))

    def make() -> progress.Reporter:
        return progress.Reporter(output, sys.stdout, verbose=verbose, quiet=quiet,
                                 heartbeat=(5.0 if sandbox else 30.0) if heartbeat is None else heartbeat,
                                 post_rate=budget)

    reporter, confirm = _approval(make, manifest, sandbox, output == "text" and not yes)
    if saved is not None:
        confirm = saved_plan.checker(saved)
    try:
        with _stop_on_signals(reporter) as stop:
            reporter.stop = stop  # output that cannot be written stops the run like Ctrl-C
            result = runner.apply(manifest, settings, emit=reporter, stop=stop, confirm=confirm)
        summary = {k: sum(1 for o in result.outcomes if o.status == k)
                   for k in dict.fromkeys(o.status for o in result.outcomes)}
        reporter({"event": "summary", "counts": summary, "requests": result.requests,
                  "exit_code": result.exit_code,
                  "message": ", ".join(f"{n} {k}" for k, n in summary.items()) or "nothing to do"})
    except runner.NotApproved as err:  # an answer, not a failure: said as it is, without "error:"
        click.echo(str(err), err=True)
        return err.exit_code
    finally:
        reporter.close()
    if reporter.lost:
        _output_lost()
    if reporter.failure:
        click.echo(f"warning: {reporter.failure}", err=True)
    _after_run(result, manifest, _named_state(state), output, keep_media=sandbox and not download)
    return result.exit_code


def _after_run(result: Any, manifest: str, named_state: bool, output: str, keep_media: bool) -> None:
    """What a finished run says last: why it stopped, how to settle needs-check videos, the
    GitHub report, and where the sandbox's videos are kept."""
    if result.stopped_by:
        click.echo(f"error: stopped: {result.stopped_by}", err=True)
        _json_error(result.exit_code, f"stopped: {result.stopped_by}")
    elif result.exit_code == 130:
        click.echo(f"error: {_INTERRUPTED}", err=True)
        _json_error(130, _INTERRUPTED)
    for o in result.outcomes:
        if o.status == planner.NEEDS_CHECK:
            click.echo(report.settle_hint(manifest, o.key, named_state), err=True)
    if github.active(os.environ):
        _github_report(result)
    if keep_media and not result.stopped_by:
        _keep_sandbox_media(manifest, result, output)


def _approval(make: Any, manifest: str, sandbox: bool, may_ask: bool) -> tuple[Any, Any]:
    """(the run's reporter, runner.apply's `confirm`): on a terminal, a reporter that starts
    once the person answered `yes` to the plan; elsewhere (CI, pipes, JSON) no question."""
    from . import approval

    # Without a key (and no sandbox) the run stops before planning is useful: no question first.
    has_key = sandbox or bool(os.environ.get("JOGG_API_KEY"))
    if may_ask and has_key and approval.on_terminal(sys.stdin, sys.stdout):
        deferred = approval.Deferred(make, sys.stderr)
        return deferred, approval.asker(deferred, manifest, sandbox, sys.stdin, sys.stdout)
    return make(), None


_INTERRUPTED = "stopped by a signal; the state is saved and the next apply resumes"


def _keep_sandbox_media(manifest: str, result: Any, output: str) -> None:
    """The in-process sandbox's URLs die with it: keep its videos where the user can open them."""
    from .sandbox.media import keep

    folder = sandbox_media_dir(manifest)
    finished = [o.key for o in result.outcomes if o.status in ("succeeded", "up-to-date")]
    keep(folder, finished)
    if output == "text" and finished:  # a --no-wait run has nothing to look at yet
        click.echo(f"videos in {_shown_path(folder)}/; to look at them: jogg-flow outputs "
                   f"{manifest} --sandbox --output html --out gallery.html")


def sandbox_media_dir(manifest: str) -> str:
    """Where `--sandbox` keeps its videos and covers: `.jogg-flow/sandbox-media` beside the manifest."""
    return os.path.join(os.path.dirname(manifest) or ".", ".jogg-flow", "sandbox-media")


def _shown_path(path: str) -> str:
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else path


def _github_report(result: Any) -> None:
    """Annotations on the failed videos' lines, the step summary and the step outputs."""
    manifest = result.manifest
    videos = {i.key: i.video for i in result.items}
    for o in result.outcomes:
        level = github.outcome_level(o.status, result.exit_code)
        if level:
            video = videos.get(o.key)
            line = manifest.line_of(video) if video else None
            click.echo(github.annotation(level, f"{o.key}: {o.status}: {o.message}",
                                         manifest.file, line, title="jogg-flow"))
    rows = [{"key": o.key, "status": o.status, "project_id": o.project_id,
             "video_url": o.video_url} for o in result.outcomes]
    summary = github.summary_markdown(manifest.name, rows, github.gallery_link(os.environ),
                                      os.environ.get("JOGG_FLOW_GALLERY_ARTIFACT", ""))
    for variable, text in (("GITHUB_STEP_SUMMARY", summary),
                           ("GITHUB_OUTPUT", github.output_lines(rows))):
        problem = github.append(os.environ.get(variable), text)
        if problem:
            click.echo(github.annotation("warning", problem, title="jogg-flow"))


class _stop_on_signals:
    """SIGINT/SIGTERM set an event the executor watches; a second SIGINT aborts."""

    def __init__(self, reporter: Any) -> None:  # a progress.Reporter, or approval.Deferred
        self.reporter = reporter

    def __enter__(self) -> threading.Event:
        self.stop = threading.Event()
        self.saved: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, self._handle)
        return self.stop

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        # Through the reporter: on a terminal the live view's next redraw would erase it.
        self.reporter.notice("stopping: finishing calls under way and saving state "
                             "(Ctrl-C again to abort)", sys.stderr)
        self.stop.set()

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)


@cli.command()
@click.argument("manifest", type=click.Path())
@state_option
@select_option
@sandbox_flag
@api_base_option
@click.option("--output", "output", type=click.Choice(["text", "json", "csv", "html"]), default=None,
              help="text (a table), json, csv, or html: a page with every video to watch [text].")
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
        rows = core.outputs(manifest, state=state, select=select, sandbox=sandbox, api_base=api_base,
                            warn=_warn)
        text = report.format_rows(rows, "table" if chosen == "text" else chosen)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text.rstrip("\n"))
    for row in rows:
        if row["status"] == planner.NEEDS_CHECK and chosen == "text":
            click.echo(report.settle_hint(manifest, row["key"], _named_state(state)), err=True)
    return 0


def _gallery(manifest: str, state: str | None, select: tuple[str, ...], sandbox: bool,
             api_base: str | None, out: str | None, media: str | None) -> str:
    from . import gallery

    loaded, keys, records = core.gallery_records(manifest, state=state, select=select, sandbox=sandbox,
                                                 api_base=api_base, warn=_warn)
    media = media or (sandbox_media_dir(manifest) if sandbox else None)
    page_dir = os.path.dirname(os.path.abspath(out)) if out else os.getcwd()
    return gallery.page(loaded.name, gallery.cards(loaded, keys, records, media, page_dir))


@cli.command("init")
@click.argument("path", default="jogg-flow.yaml", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--from", "feed", type=click.Path(dir_okay=False),
              help="A catalogue feed (CSV, TSV, Shopify export, JSON, JSON Lines, Merchant XML) to map.")
def init_cmd(path: str, force: bool, feed: str | None) -> int:
    """Write a commented starter manifest to PATH (default jogg-flow.yaml)."""
    if feed:
        from .feeds.starter import write_from_feed

        write_from_feed(path, feed, force)
    else:
        write_starter(path, force)
    click.echo(f"wrote {path}; next: jogg-flow validate {path}")
    return 0


@cli.group("state")
def state_group() -> None:
    """Inspect the state, or forget a video."""


def _state_for(manifest: str, state: str | None, sandbox: bool) -> tuple[str, str]:
    loaded = load_manifest(manifest, offline=True)  # only its name is needed: no URL feed fetched
    return core.state_path_for(loaded, state, sandbox), core.state_name(loaded, sandbox)


state_output = click.option("--output", "output", type=click.Choice(["text", "json"]), default="text",
                            show_default=True)


@state_group.command("list")
@click.argument("manifest", type=click.Path())
@state_option
@sandbox_flag
@state_output
def state_list(manifest: str, state: str | None, sandbox: bool, output: str) -> int:
    """One line per recorded video: key, status, project id."""
    _json_errors(output == "json")
    records = state_store.load(*_state_for(manifest, state, sandbox)).videos
    if output == "json":
        click.echo(json.dumps([{"key": key, "status": shown_status(r), "project_id": r.get("project_id")}
                               for key, r in sorted(records.items())], indent=2))
        return 0
    for key, record in sorted(records.items()):
        click.echo(f"{key}\t{shown_status(record)}\t{record.get('project_id') or '-'}")
    return 0


@state_group.command("show")
@click.argument("manifest", type=click.Path())
@click.argument("key")
@state_option
@sandbox_flag
@state_output
def state_show(manifest: str, key: str, state: str | None, sandbox: bool, output: str) -> int:
    """The whole record of one video, as JSON (the same with --output json)."""
    _json_errors(output == "json")
    record = state_store.load(*_state_for(manifest, state, sandbox)).videos.get(key)
    if record is None:
        raise UsageError(f"no video '{key}' in the state")
    # The status in today's words (an older state's `new` is `pending`); the rest as stored.
    click.echo(json.dumps({**record, "status": shown_status(record)}, indent=2, sort_keys=True))
    return 0


@state_group.command("rm")
@click.argument("manifest", type=click.Path())
@click.argument("keys", nargs=-1, required=True)
@state_option
@sandbox_flag
def state_rm(manifest: str, keys: tuple[str, ...], state: str | None, sandbox: bool) -> int:
    """Forget videos (KEY or a glob: 'blender/*'): the next apply makes them anew.
    Nothing is deleted at JoggAI."""
    from .state.surgery import matching

    with state_store.locked(*_state_for(manifest, state, sandbox)) as store:
        found = matching(store, keys)
        for key in found:
            store.put(key, None)
    click.echo(f"forgot {len(found)} video{'' if len(found) == 1 else 's'}: {', '.join(found)}")
    return 0


@state_group.command("mv")
@click.argument("manifest", type=click.Path())
@click.argument("old")
@click.argument("new")
@state_option
@sandbox_flag
def state_mv(manifest: str, old: str, new: str, state: str | None, sandbox: bool) -> int:
    """Rename a video's record (after renaming its key in the manifest): no new render, no cost."""
    from .state.surgery import move

    with state_store.locked(*_state_for(manifest, state, sandbox)) as store:
        move(store, old, new)
    click.echo(f"moved {old} to {new}")
    return 0


@state_group.command("import")
@click.argument("manifest", type=click.Path())
@click.argument("key")
@click.argument("project_id")
@state_option
@api_base_option
def state_import(manifest: str, key: str, project_id: str, state: str | None, api_base: str | None) -> int:
    """Adopt a video made outside jogg-flow as KEY, after reading PROJECT_ID at the API (a free GET)."""
    from . import runner

    settings = runner.ApplySettings(state=state, api_base=api_base)
    record = runner.import_video(manifest, key, project_id, settings)
    click.echo(f"imported {key}: project {project_id}, {record['status']}")
    return 0


@state_group.command("migrate")
@click.argument("manifest", type=click.Path())
@click.option("--from", "source", required=True, metavar="PATH|URL", help="The state to copy.")
@click.option("--to", "dest", required=True, metavar="PATH|URL", help="Where to copy it.")
@click.option("--sandbox", is_flag=True, help="The manifest's sandbox state (its own name).")
@click.option("--force", is_flag=True, help="Replace a destination that already holds videos.")
def state_migrate(manifest: str, source: str, dest: str, sandbox: bool, force: bool) -> int:
    """Move a state between a file and PostgreSQL (either way), unchanged; both are locked."""
    from .state.migrate import migrate

    loaded = load_manifest(manifest, offline=True)
    name = core.state_name(loaded, sandbox)
    count = migrate(source, dest, name, force=force)
    where = state_store.describe_location
    click.echo(f"copied {count} video{'' if count == 1 else 's'} from {where(source, name)} "
               f"to {where(dest, name)}")
    return 0


@state_group.command("adopt")
@click.argument("manifest", type=click.Path())
@click.argument("key")
@click.argument("project_id")
@state_option
@sandbox_flag
def state_adopt(manifest: str, key: str, project_id: str, state: str | None, sandbox: bool) -> int:
    """Settle a needs-check video with the render you found at JoggAI: apply polls it."""
    from .state.surgery import settle

    with state_store.locked(*_state_for(manifest, state, sandbox)) as store:
        settle(store, key, project_id)
    click.echo(f"{key}: adopted {project_id}; the next apply collects it")
    return 0


@state_group.command("rerender")
@click.argument("manifest", type=click.Path())
@click.argument("key")
@state_option
@sandbox_flag
def state_rerender(manifest: str, key: str, state: str | None, sandbox: bool) -> int:
    """Settle a needs-check video that never reached JoggAI: the next apply renders it."""
    from .state.surgery import settle

    with state_store.locked(*_state_for(manifest, state, sandbox)) as store:
        settle(store, key, None)
    click.echo(f"{key}: the next apply renders it again")
    return 0


@cli.command("catalog")
@click.argument("kind", type=click.Choice(["avatars", "voices", "templates", "visual-styles", "music"]))
@click.option("--manifest", "manifest_path", type=click.Path(), help="Take api.version and base_url from it.")
@click.option("--api-version", type=click.Choice(["open", "v1", "v2"]),
              help="API generation [the manifest's, else open].")
@click.option("--api-base", envvar="JOGG_API_BASE", metavar="URL", help="JoggAI API base URL.")
@sandbox_flag
@click.option("--output", "output", type=click.Choice(["text", "json"]), default=None,
              help="text (a table) or json [text].")
@click.option("--format", "fmt", type=click.Choice(["table", "text", "json"]), default=None, hidden=True)
def catalog_cmd(kind: str, manifest_path: str | None, api_version: str | None, api_base: str | None,
                sandbox: bool, output: str | None, fmt: str | None) -> int:
    """List what JoggAI offers for a setting, to fill a manifest without the dashboard."""
    from . import runner

    _json_errors((output or fmt) == "json")
    _sandbox_or_base(sandbox, api_base)
    loaded = load_manifest(manifest_path, offline=True) if manifest_path else None
    version = api_version or (loaded.api_version if loaded else "open")
    items = runner.catalog(kind, version, runner.ApplySettings(api_base=api_base, sandbox=sandbox),
                           manifest_base=loaded.base_url if loaded else None)
    if (output or fmt) == "json":
        click.echo(json.dumps(items, indent=2))
        return 0
    columns = [c for c in ("id", "avatar_id", "voice_id", "lang_id", "name", "language", "gender",
                           "aspect_ratio", "duration") if any(c in i for i in items)]
    click.echo(report.table(columns, [[i.get(c) for c in columns] for i in items]))
    return 0


@cli.command("schema")
def schema_cmd() -> int:
    """Print the manifest's JSON Schema (for editors and other tools)."""
    click.echo(schema.text().rstrip("\n"))
    return 0


@cli.command("unlock")
@click.argument("manifest", type=click.Path())
@state_option
@sandbox_flag
def unlock_cmd(manifest: str, state: str | None, sandbox: bool) -> int:
    """Remove the state's lock (refused while a live run holds it)."""
    location, name = _state_for(manifest, state, sandbox)
    if state_store.is_postgres(location):
        with state_store.locked(location, name) as store:  # refused, naming it, while a run holds it
            previous = store.took_over
    else:
        previous = unlock(location)
    click.echo(f"unlocked (it named {previous})" if previous else "no lock held")
    return 0


def _fault(text: str) -> Fault:
    kind, _, rest = text.partition(":")
    route, times = rest, ""
    head, _, tail = rest.rpartition(":")
    if tail.isdigit():
        route, times = head, tail
    try:
        return Fault(kind, route or "*", int(times) if times else 1)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _fault_rate(text: str) -> Fault:
    spec, _, rate = text.rpartition("=")
    kind, _, route = spec.partition(":")
    try:
        probability = float(rate)
        if not 0 <= probability <= 1:
            raise ValueError(f"probability {rate} is not between 0 and 1")
        return Fault(kind, route or "*", probability=probability)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


@cli.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--render-seconds", type=float, default=180.0, show_default=True,
              help="API seconds a render takes.")
@click.option("--time-scale", type=float, default=1.0, show_default=True,
              help="API seconds per real second.")
@click.option("--post-limit", type=int, default=20, show_default=True)
@click.option("--post-window", type=float, default=60.0, show_default=True)
@click.option("--latency", type=float, default=0.0, help="Real seconds added to each request.")
@click.option("--fail-rate", type=float, default=0.0, help="Chance that a render fails.")
@click.option("--seed", type=int, default=0)
@click.option("--accept-key", multiple=True, help="Only these API keys (default: any).")
@click.option("--fault", "faults", multiple=True, metavar="KIND[:ROUTE[:TIMES]]",
              help=f"Inject a fault; KIND is one of {', '.join(FAULT_KINDS)}.")
@click.option("--fault-rate", "fault_rates", multiple=True, metavar="KIND[:ROUTE]=P",
              help="Inject a fault into each matching request with probability P (seeded).")
@click.option("--realistic", is_flag=True,
              help="JoggAI as it can really answer: --no-retry-hint, --html-404, --start-seconds 30.")
@click.option("--no-retry-hint", is_flag=True, help="A 429 says nothing of when to retry.")
@click.option("--html-404", is_flag=True, help="Unknown routes answer a bare HTML 404 page.")
@click.option("--start-seconds", type=float, default=0.0,
              help="API seconds an accepted render still reads status 1.")
@click.option("--retire", multiple=True, type=click.Choice(["open", "v1", "v2"]),
              help="Every route of this generation answers a bare HTML 404.")
def sandbox_cmd(host: str, port: int, render_seconds: float, time_scale: float, post_limit: int,
                post_window: float, latency: float, fail_rate: float, seed: int,
                accept_key: tuple[str, ...], faults: tuple[str, ...], fault_rates: tuple[str, ...],
                realistic: bool, no_retry_hint: bool, html_404: bool, start_seconds: float,
                retire: tuple[str, ...]) -> int:
    """Run the built-in JoggAI-compatible API until interrupted."""
    from .sandbox import Sandbox
    from .sandbox import realistic as make_realistic

    config = Config(render_seconds=render_seconds, time_scale=time_scale, post_limit=post_limit,
                    post_window=post_window, latency=latency, fail_rate=fail_rate, seed=seed,
                    api_keys=frozenset(accept_key) or None,
                    faults=[_fault(f) for f in faults] + [_fault_rate(f) for f in fault_rates],
                    retry_hint=not no_retry_hint, html_404=html_404, start_seconds=start_seconds,
                    retired=retire)
    if realistic:
        make_realistic(config)
    gc.enable()  # a server that runs until stopped: normal collection (main paused it)
    try:
        server = Sandbox(config, host, port)
    except OSError as err:  # a busy port, a host that is not ours: one line, no traceback
        raise UsageError(f"cannot listen on {host}:{port}: {err.strerror or err}"
                               + (" (is another sandbox running? try --port 0 for any free port)"
                                  if err.errno == errno.EADDRINUSE else "")) from None
    click.echo(f"JoggAI sandbox on {server.url} (stats: {server.url}/_sandbox/stats)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main(*args: Any, **kwargs: Any) -> Any:
    """The console entry point. Loading a manifest builds a large tree with no cycles, on
    which the collector's passes free nothing and grow with its size (628 full passes at
    10,000 products): it is paused here, with everything imported frozen out of its sight,
    and `runner` turns it back on before a run that lasts minutes."""
    gc.freeze()
    gc.disable()
    return cli.main(*args, **kwargs)
