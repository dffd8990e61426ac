"""plan, show and apply: from a manifest to a plan, and from a plan to API calls."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from ..api.budget import Waits
from ..api.generations import generation
from ..app import offline as offline_cmds
from ..app.scope import Scope, rerender_rule, state_name, state_path_for, target_identity
from ..engine import planner
from ..engine.events import SummaryEvent
from ..errors import OUT_OF_TIME, UsageError
from ..state.status import Status
from ..text import printable
from ..ui import github, progress, report

if TYPE_CHECKING:  # loaded only by apply (requests and the executor come with them)
    from ..app.online import Confirm
    from .approval import Deferred
from .app import (
    _duration,
    _json_error,
    _json_errors,
    _named_state,
    _output_lost,
    _rate,
    _sandbox_or_base,
    _warn,
    api_base_option,
    cli,
    output_option,
    rerender_option,
    retry_failed_option,
    sandbox_flag,
    select_option,
    state_option,
)


@cli.command()
@click.argument("manifest", type=click.Path())
@state_option
@select_option
@output_option
@sandbox_flag
@api_base_option
@retry_failed_option
@rerender_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--check", is_flag=True,
              help="Also make apply's free reads: the key, the API generation, the credit left.")
@click.option("--out", "out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also save the plan to FILE: `apply FILE` runs exactly it, or refuses if the "
              "manifest or the state moved since.")
def plan(manifest: str, state: str | None, select: tuple[str, ...], output: str,
         sandbox: bool, api_base: str | None, retry_failed: bool, rerender_unseen_after: float | None,
         detailed_exitcode: bool, check: bool, out: str | None) -> int:
    """Show what apply would do for every video. No API calls (unless --check)."""
    _json_errors(output == "json")
    _sandbox_or_base(sandbox, api_base)
    scope = Scope(manifest, state=state, select=select, sandbox=sandbox, api_base=api_base,
                  retry_failed=retry_failed, rerender_unseen_after=rerender_unseen_after,
                  planned_at=time.time())
    loaded, items, records = offline_cmds.plan_with_records(scope, warn=_warn)
    est = planner.estimate(items, records, shares_products=generation(loaded.api_version).shares_products)
    rate = planner.post_rate(None, loaded.post_rate, planner.SANDBOX_SCALE if sandbox else 1.0)
    # The free reads come first, so a failing check is the only JSON document on stdout.
    checked = _plan_check(loaded, scope, est, records) if check else None
    if output == "json":
        doc = {"manifest": loaded.file, "name": loaded.name,
               "items": [i.as_dict(values=True) for i in items], "counts": planner.counts(items),
               "estimate": {"renders": est.renders, "credits": est.credits, "posts": est.posts,
                            "post_seconds": est.post_seconds(rate), "from_previews": est.from_previews,
                            "uploads": est.uploads},
               "default_aspect_ratio": report.DEFAULT_ORIENTATION}
        click.echo(json.dumps({**doc, "check": checked} if checked else doc, indent=2))
    again = report.Again(manifest, sandbox, _named_state(state), _named_base(api_base))
    notes = [report.rename_hint(old, new, again) for old, new in report.renamed(items, records)]
    notes += [report.orientation_text(items)] if report.orientation_text(items) else []
    if output == "text":
        _plan_shown(manifest, items, notes, est, rate, sandbox)
    if out:
        _save_plan(out, manifest, loaded, items, scope, est, rate, tuple(notes))
    if checked and not checked["enough"]:
        click.echo(f"error: {checked['credits']:g} credits left, this plan needs about {est.credits}",
                   err=True)
        return 1
    changed = any(i.action in planner.CHANGES for i in items)
    return 2 if detailed_exitcode and changed else 0


def _plan_shown(manifest: str, items: list[planner.PlanItem], notes: Sequence[str], est: planner.Estimate,
                rate: tuple[int, float] | None, sandbox: bool) -> None:
    """A plan as `plan` prints it (and `show` prints a saved one)."""
    click.echo(report.plan_text(items, manifest))
    for note in notes:
        click.echo(printable(note))
    if est.renders and rate:
        click.echo(report.estimate_text(est, rate, sandbox))
    elif est.renders:  # a plan saved before plans kept their POST budget
        click.echo(f"Estimate: {report.counted(est.renders, 'render')} ≈ "
                   f"{report.counted(est.credits, 'credit')}; {report.counted(est.posts, 'POST')}.")


@cli.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@output_option
def show(plan_file: str, output: str) -> int:
    """Print a plan saved by `plan --out` as plan printed it (text or --output json)."""
    from ..app import saved_plan

    _json_errors(output == "json")
    shown = saved_plan.shown(plan_file)
    if output == "json":
        click.echo(json.dumps(shown.document, indent=2))
    else:
        _plan_shown(shown.document["manifest"], shown.items, shown.notes, shown.estimate, shown.rate,
                    shown.sandbox)
    return 0


def _plan_check(loaded: Any, scope: Scope, est: planner.Estimate,
                records: Mapping[str, Any]) -> dict[str, Any]:
    """`plan --check`: apply's free reads (the key, the generation, the credit left, and the
    evidence of each needs-check video)."""
    from ..app import online as runner

    checked = runner.check(loaded, scope, records)
    found, shown = checked.preflight, checked.adoptable
    left = f"{found.credits:g}" if found.credits is not None else "not reported" + (
        "" if generation(loaded.api_version).credit_read
        else f" (JoggAI documents no credit read for api.version {loaded.api_version})")
    click.echo(f"Check: the key works{f' (account {found.account})' if found.account else ''}; "
               f"api.version {loaded.api_version} answers; credit left: {left}.", err=True)
    if shown:
        click.echo(f"Check: JoggAI now shows the render of {len(shown)} needs-check video"
                   f"{'s' if len(shown) != 1 else ''} ({', '.join(printable(k) for k in shown[:5])}"
                   f"{', …' if len(shown) > 5 else ''}): the next apply adopts "
                   f"{'them' if len(shown) != 1 else 'it'}.", err=True)
    return {"account": found.account, "credits": found.credits,
            "enough": found.credits is None or found.credits >= est.credits, "adoptable": shown}


def _save_plan(out: str, manifest: str, loaded: Any, items: list[planner.PlanItem], scope: Scope,
               est: planner.Estimate, rate: tuple[int, float], notes: tuple[str, ...]) -> None:
    from ..app import saved_plan

    sandbox = scope.sandbox
    saved_plan.write(out, saved_plan.Planned(
        manifest, loaded, items, scope.select, sandbox, state_path_for(loaded, scope.state, sandbox),
        state_name(loaded, sandbox), target_identity(loaded, scope.api_base, os.environ, sandbox),
        est, rate, scope.retry_failed, rerender_rule(scope, loaded), report.DEFAULT_ORIENTATION, notes))
    click.echo(f"saved the plan to {out}; `jogg-flow apply {out}` runs exactly it "
               "(refused if the manifest or the state moves meanwhile)", err=True)


# Options `apply` and `preview` share (both spend credits, poll and keep the POST budget).
parallelism_option = click.option("--parallelism", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Videos in their submit steps at once.")
post_rate_option = click.option("--post-rate", callback=_rate, metavar="N/Ts",
                                help="POST budget, e.g. 20/60s.")
poll_interval_option = click.option("--poll-interval", type=click.FloatRange(min=0.01), metavar="SECONDS",
              help="First and shortest wait between two status reads [15].")
poll_max_option = click.option("--poll-max", type=click.FloatRange(min=0.01), metavar="SECONDS",
              help="Longest wait between two status reads [120].")
timeout_option = click.option("--timeout", type=click.FloatRange(min=0), default=1800.0, show_default=True,
              help="How long to wait for a submitted render.")
request_timeout_option = click.option("--request-timeout", type=click.FloatRange(min=0.01), default=30.0,
                                      show_default=True, help="Seconds to wait for one API answer.")
no_wait_option = click.option("--no-wait", is_flag=True,
                              help="Submit renders and exit; a later apply collects them.")
allow_http_option = click.option("--allow-http", is_flag=True,
              help="Send the key over plain http to a non-loopback API base (a proxy you trust).")
allow_partial_option = click.option("--allow-partial", is_flag=True,
              help="Start even when the credit left does not cover the whole plan.")
heartbeat_option = click.option("--heartbeat", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Without a terminal: a progress line this often (0: none) [30; 5 with --sandbox].")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Only each video's outcome and the summary.")
verbose_option = click.option("-v", "--verbose", count=True, help="Every step and status read.")
yes_option = click.option("--yes", "--auto-approve", "yes", is_flag=True,
              help="Do not ask before spending (asked whenever stdin is a terminal; "
              "needed there with --output json).")
api_base_env_option = click.option("--api-base", envvar="JOGG_API_BASE", metavar="URL",
                                   help="JoggAI API base URL.")


def spending_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of a command that spends credits and waits for JoggAI (`apply`, `preview`):
    where, what, how fast, how long, how loud, and --yes."""
    for option in reversed((state_option, select_option, output_option, sandbox_flag, api_base_env_option,
                            parallelism_option, post_rate_option, poll_interval_option, poll_max_option,
                            timeout_option, request_timeout_option, no_wait_option, retry_failed_option,
                            allow_http_option, allow_partial_option, heartbeat_option, quiet_option,
                            verbose_option, yes_option)):
        command = option(command)
    return command


def reporter_factory(output: str, verbose: int, quiet: bool, heartbeat: float | None, sandbox: bool,
                     post_rate: tuple[int, float] | None, waits: Waits | None = None,
                     link: Callable[[str, str], str] | None = None) -> Callable[[], progress.Reporter]:
    """What makes a run's Reporter (once approved, where a person is asked first): `waits`
    is what the run waits for, `link` how a finished video is shown (the sandbox's kept files)."""
    budget = post_rate or (20, 60.0 / (planner.SANDBOX_SCALE if sandbox else 1.0))

    def make() -> progress.Reporter:
        return progress.Reporter(output, sys.stdout, verbose=verbose, quiet=quiet,
                                 heartbeat=(5.0 if sandbox else 30.0) if heartbeat is None else heartbeat,
                                 post_rate=budget, waits=waits,
                                 typical_render=(SANDBOX_RENDER / planner.SANDBOX_SCALE if sandbox
                                                 else progress.TYPICAL_RENDER), link=link)
    return make


def summary_event(outcomes: Any, requests: int, exit_code: int, charged: float | None,
                  estimated: int, adopted: int = 0, rerendered_unseen: int = 0) -> SummaryEvent:
    """The run's last event: how many videos ended how (and how many needs-checks a later
    read settled), what it cost."""
    counts = {k: sum(1 for o in outcomes if o.status == k) for k in dict.fromkeys(o.status for o in outcomes)}
    settled = [f"{n} {what}" for n, what in ((adopted, "adopted after a check"),
                                              (rerendered_unseen, "rendered again unseen")) if n]
    return {"event": "summary", "counts": counts, "requests": requests, "exit_code": exit_code,
            "credits_charged": charged, "credits_estimated": estimated, "adopted": adopted,
            "rerendered_unseen": rerendered_unseen,
            "message": ", ".join([*(f"{n} {k}" for k, n in counts.items()), *settled]) or "nothing to do"}


lock_timeout_option = click.option(
    "--lock-timeout", callback=_duration, metavar="DURATION",
    help="Wait up to DURATION (e.g. 10m) for a state another run holds, instead of stopping at "
    "once (exit 4).")


@cli.command()
@click.argument("manifest", type=click.Path())
@spending_options
@click.option("--download", type=click.Path(file_okay=False), metavar="DIR",
              help="Fetch each finished video and cover into DIR (resumable).")
@rerender_option
@click.option("--max-credits", type=click.IntRange(min=0), default=None, metavar="N",
              help="Refuse a plan estimated to spend more than N credits; stop submitting at N.")
@click.option("--max-duration", callback=_duration, metavar="DURATION",
              help="The longest the whole run may take (e.g. 5h30m, for a CI job's limit): submitting "
              "stops at three quarters of it, the run at all of it; what is left waits for the next "
              f"apply (exit {OUT_OF_TIME}).")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the run's outcomes as JUnit XML (one test case per video) to FILE.")
@lock_timeout_option
def apply(manifest: str, state: str | None, select: tuple[str, ...], output: str, sandbox: bool,
          api_base: str | None, parallelism: int, post_rate: tuple[int, float] | None,
          poll_interval: float | None, poll_max: float | None, timeout: float,
          request_timeout: float, download: str | None, no_wait: bool, retry_failed: bool,
          rerender_unseen_after: float | None, allow_http: bool, allow_partial: bool,
          max_credits: int | None, heartbeat: float | None, quiet: bool, verbose: int,
          max_duration: float | None, junit_file: str | None, lock_timeout: float | None, yes: bool) -> int:
    """Create, update and render every video that needs it; resume anything unfinished.
    When stdin is a terminal it shows the plan and asks first (--yes skips that). MANIFEST may
    be a plan saved by `plan --out`: that plan runs, without a question, unless anything moved."""
    from ..app import online as runner  # requests and the executor load only for apply (~50 ms)
    from ..app import saved_plan

    _json_errors(output == "json", events=True)
    _sandbox_or_base(sandbox, api_base)
    saved = saved_plan.read(manifest)
    if saved is not None:
        saved_plan.conflicts(saved, select, sandbox, state, retry_failed, rerender_unseen_after)
        manifest, select, sandbox, yes = saved.manifest, saved.select, saved.sandbox, True
        retry_failed, rerender_unseen_after = saved.retry_failed, saved.rerender_unseen_after
    scope = Scope(manifest, state=state, select=select, sandbox=sandbox, api_base=api_base,
                  retry_failed=retry_failed, rerender_unseen_after=rerender_unseen_after,
                  planned_at=saved.planned_at if saved is not None else None)
    settings = runner.ApplySettings(
        post_rate=post_rate, parallelism=parallelism, poll_interval=poll_interval, poll_max=poll_max,
        timeout=timeout, request_timeout=request_timeout, wait=not no_wait,
        download=download, allow_http=allow_http, allow_partial=allow_partial, max_credits=max_credits,
        max_duration=max_duration, lock_timeout=lock_timeout or 0.0, waits=Waits(),
        on_lock_wait=lambda text: click.echo(printable(text), err=True))
    make = reporter_factory(output, verbose, quiet, heartbeat, sandbox, post_rate, settings.waits,
                            _kept_link(manifest) if sandbox else None)
    reporter, confirm = _approval(make, manifest, sandbox, output, yes)
    if saved is not None:
        confirm = saved_plan.checker(saved)
    try:
        with _stop_on_signals(reporter) as stop:
            reporter.stop = stop  # output that cannot be written stops the run like Ctrl-C
            result = runner.apply(scope, settings, emit=reporter, stop=stop, confirm=confirm)
        reporter(summary_event(result.outcomes, result.requests, result.exit_code, result.credits_charged,
                               result.credits_estimated, adopted=result.adopted,
                               rerendered_unseen=result.rerendered_unseen))
    except runner.NotApproved as err:  # an answer, not a failure: said as it is, without "error:"
        click.echo(printable(str(err)), err=True)
        return err.exit_code
    finally:
        reporter.close()
    if reporter.lost:
        _output_lost()
    if reporter.failure:
        click.echo(f"warning: {printable(reporter.failure)}", err=True)
    again = report.Again(manifest, sandbox, _named_state(state), _named_base(api_base))
    _after_run(result, again, output, keep_media=sandbox)
    if junit_file:
        _write_junit(junit_file, result)
    return result.exit_code


def _write_junit(path: str, result: Any) -> None:
    """`--junit FILE`: the run's outcomes, one test case per video; a file that cannot be
    written is a warning (the videos are done by then)."""
    rows = [{"key": o.key, "status": o.status, "message": o.message, "project_id": o.project_id,
             "video_url": o.video_url} for o in result.outcomes]
    from ..ui import junit  # xml.etree loads only for --junit

    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(junit.report(os.path.basename(result.manifest.file), rows))
    except OSError as err:
        click.echo(f"warning: cannot write {path}: {err.strerror}", err=True)


def _named_base(api_base: str | None) -> bool:
    """Whether --api-base was given on the command line (not through JOGG_API_BASE)."""
    source = click.get_current_context().get_parameter_source("api_base")
    return bool(api_base) and source == click.core.ParameterSource.COMMANDLINE


def _after_run(result: Any, again: report.Again, output: str, keep_media: bool) -> None:
    """What a finished run says last: what to do next about the videos it left (the command
    that settles, retries, resumes or forgets them), why it stopped (the last line), the
    GitHub report, and where the sandbox's videos are kept."""
    manifest = again.manifest
    if output == "text" and result.credits_charged is not None:
        # Where JoggAI says what it deducted (v2); elsewhere the preflight line gave the estimate.
        click.echo(report.credits_text(result.credits_charged, result.credits_estimated), err=True)
    stopped = bool(result.stopped_by) or result.exit_code in (130, OUT_OF_TIME)
    for line in report.run_hints([(o.key, o.status) for o in result.outcomes], again, stopped):
        click.echo(line, err=True)
    if result.exit_code == OUT_OF_TIME:
        said = (f"--max-duration reached: {result.remaining} video{'s' if result.remaining != 1 else ''} "
                "remain (not yet rendered, or rendering); the next apply goes on with them")
        click.echo(f"error: {said}", err=True)
        _json_error(OUT_OF_TIME, said)
    elif result.stopped_by:
        click.echo(f"error: stopped: {printable(str(result.stopped_by))}", err=True)
        _json_error(result.exit_code, f"stopped: {result.stopped_by}")
    elif result.exit_code == 130:
        click.echo(f"error: {_INTERRUPTED}", err=True)
        _json_error(130, _INTERRUPTED)
    if github.active(os.environ):
        _github_report(result, sandbox=keep_media)
    if keep_media and not result.stopped_by:
        _keep_sandbox_media(manifest, result, output)


def _approval(make: Callable[[], progress.Reporter], manifest: str, sandbox: bool, output: str,
              yes: bool) -> tuple[progress.Reporter | Deferred, Confirm | None]:
    """(the run's reporter, runner.apply's `confirm`): when a person is at the keyboard
    (stdin is a terminal, wherever stdout goes), a reporter that starts once they answered
    `yes` to the plan, shown on their terminal; without one (CI) no question."""
    from . import approval

    if yes or not approval.at_keyboard(sys.stdin):
        return make(), None
    if output == "json":  # as Terraform refuses `apply -json` without -auto-approve
        raise UsageError("apply --output json cannot ask before spending: add --yes, or apply "
                         "a plan saved by `jogg-flow plan --out FILE`; nothing was sent")
    place = approval.where_to_ask(sys.stdin, sys.stdout, sys.stderr)
    if place is None:
        raise UsageError("stdin is a terminal but the question before spending cannot be shown "
                         "on it: add --yes to apply without asking; nothing was sent")
    # Without a key (and no sandbox) the run stops before planning is useful: no question first.
    if not (sandbox or os.environ.get("JOGG_API_KEY")):
        return make(), None
    deferred = approval.Deferred(make, sys.stderr)
    return deferred, approval.asker(deferred, manifest, sandbox, sys.stdin, place)


SANDBOX_RENDER = 180.0  # API seconds the built-in sandbox takes per render (3 s at its speed)
_INTERRUPTED = "stopped by a signal; the state is saved and the next apply resumes"


def _keep_sandbox_media(manifest: str, result: Any, output: str) -> None:
    """The in-process sandbox's URLs die with it: keep its videos where the user can open them."""
    from ..sandbox.media import keep, rename

    folder = sandbox_media_dir(manifest)
    for old, new in result.manifest.moved:  # a moved: rename takes its kept video along
        rename(folder, old, new)
    finished = [o.key for o in result.outcomes if o.status in (Status.SUCCEEDED, Status.UP_TO_DATE)]
    keep(folder, finished)
    # Said when this run made videos (a --no-wait run has nothing to look at yet, and one
    # with nothing to do says just that).
    if output == "text" and any(o.status == Status.SUCCEEDED for o in result.outcomes):
        click.echo(f"videos in {_shown_path(folder)}/; to look at them: jogg-flow outputs "
                   f"{manifest} --sandbox --output html --out gallery.html")


def _kept_link(manifest: str) -> Callable[[str, str], str]:
    """What a --sandbox outcome line links: the video's kept file, not the sandbox's URL."""
    return lambda key, url: kept_file(manifest, key, ".mp4")


def kept_file(manifest: str, key: str, suffix: str) -> str:
    """Where `--sandbox` keeps a video's file (suffix .mp4 or .cover.png), as a path to show:
    what its outcome, `outputs` and the step summary link (the sandbox's URLs die with it)."""
    return _shown_path(os.path.join(sandbox_media_dir(manifest), *key.split("/")) + suffix)


def sandbox_media_dir(manifest: str) -> str:
    """Where `--sandbox` keeps its videos and covers: `.jogg-flow/sandbox-media` beside the manifest."""
    return os.path.join(os.path.dirname(manifest) or ".", ".jogg-flow", "sandbox-media")


def _shown_path(path: str) -> str:
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else path


def _github_report(result: Any, sandbox: bool = False) -> None:
    """Annotations on the failed videos' lines, the step summary and the step outputs."""
    manifest = result.manifest
    videos = {i.key: i.video for i in result.items}
    marks = []
    for o in result.outcomes:
        level = github.outcome_level(o.status, result.exit_code)
        if level:
            video = videos.get(o.key)
            line = manifest.line_of(video) if video else None
            marks.append((level, f"{o.key}: {o.status}: {o.message}", manifest.file, line))
    for mark in github.limited_annotations(marks):
        click.echo(mark)
    rows = [{"key": o.key, "status": o.status, "project_id": o.project_id,
             "video_url": None if sandbox else o.video_url, "credits": o.credits,
             **({"kept": kept_file(manifest.file, o.key, ".mp4")} if sandbox and o.video_url else {}),
             **({"message": o.message} if o.message else {}),
             **({"needs_check_since": o.since} if o.since else {})}
            for o in result.outcomes]
    summary = github.summary_markdown(manifest.name, rows, github.gallery_link(os.environ),
                                      os.environ.get("JOGG_FLOW_GALLERY_ARTIFACT", ""),
                                      result.credits_estimated)
    videos_file = github.write_videos_file(
        rows, manifest.name, os.environ, os.path.join(os.path.dirname(manifest.file) or ".", ".jogg-flow"))
    for variable, text in (("GITHUB_STEP_SUMMARY", summary),
                           ("GITHUB_OUTPUT", github.output_lines(rows, videos_file, remaining=(
                               result.remaining if result.exit_code == OUT_OF_TIME else None)))):
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
