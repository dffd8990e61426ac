"""The command line: parse arguments, call one function in `core`, map the result to an exit code."""

from __future__ import annotations

import errno
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

import click

from . import __version__, core, github, planner, progress, report, schema
from . import state as state_store
from .errors import JoggFlowError, ManifestError, Problem
from .manifest import load_manifest, parse_rate
from .sandbox import FAULT_KINDS, Config, Fault
from .starter import write_starter
from .state import unlock


class _Cli(click.Group):
    """Maps every error to the documented exit codes (click would use 2 for usage)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        kwargs.setdefault("prog_name", "jogg-flow")
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as err:
            err.show()
            sys.exit(3)
        except click.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("interrupted", err=True)
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


def _show(err: JoggFlowError) -> None:
    if isinstance(err, ManifestError):
        _problems(err.problems)
    else:
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
def validate(manifests: tuple[str, ...], output: str) -> int:
    """Parse, schema-check and render MANIFESTS; print every problem as FILE:LINE:COL."""
    results = core.validate(manifests)
    if output == "json":
        click.echo(json.dumps([{"file": r.file, "ok": not r.problems,
                                "videos": len(r.manifest.videos) if r.manifest else 0,
                                "problems": [p.__dict__ for p in r.problems]} for r in results],
                              indent=2))
    for r in results:
        _problems(r.problems)
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
def plan(manifest: str, state: str | None, select: tuple[str, ...], output: str,
         sandbox: bool, api_base: str | None, detailed_exitcode: bool) -> int:
    """Show what apply would do for every video. No API calls."""
    loaded, items = core.plan(manifest, state=state, select=select, sandbox=sandbox,
                              api_base=api_base, warn=_warn)
    if output == "json":
        click.echo(json.dumps({"manifest": loaded.file, "name": loaded.name,
                               "items": [i.as_dict() for i in items],
                               "counts": planner.counts(items)}, indent=2))
    else:
        click.echo(report.plan_text(items))
    changed = any(i.action in planner.CHANGES for i in items)
    return 2 if detailed_exitcode and changed else 0


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
@click.option("-q", "--quiet", is_flag=True, help="Only each video's outcome.")
@click.option("-v", "--verbose", count=True, help="Every step and status read.")
def apply(manifest: str, state: str | None, select: tuple[str, ...], output: str, sandbox: bool,
          api_base: str | None, parallelism: int, post_rate: tuple[int, float] | None,
          poll_interval: float | None, poll_max: float | None, timeout: float,
          request_timeout: float, download: str | None, no_wait: bool,
          quiet: bool, verbose: int) -> int:
    """Create, update and render every video that needs it; resume anything unfinished."""
    from . import runner  # requests and the executor load only for apply (~50 ms)

    settings = runner.ApplySettings(
        state=state, select=select, api_base=api_base, post_rate=post_rate,
        parallelism=parallelism, poll_interval=poll_interval, poll_max=poll_max,
        timeout=timeout, request_timeout=request_timeout, wait=not no_wait, sandbox=sandbox,
        download=download)
    reporter = progress.Reporter(output, sys.stdout, verbose=verbose, quiet=quiet)
    try:
        with _stop_on_signals() as stop:
            reporter.stop = stop  # output that cannot be written stops the run like Ctrl-C
            result = runner.apply(manifest, settings, emit=reporter, stop=stop)
        summary = {k: sum(1 for o in result.outcomes if o.status == k)
                   for k in dict.fromkeys(o.status for o in result.outcomes)}
        reporter({"event": "summary", "counts": summary, "requests": result.requests,
                  "exit_code": result.exit_code,
                  "message": ", ".join(f"{n} {k}" for k, n in summary.items()) or "nothing to do"})
    finally:
        reporter.close()
    if reporter.lost:
        _output_lost()
    if reporter.failure:
        click.echo(f"warning: {reporter.failure}", err=True)
    if result.stopped_by:
        click.echo(f"error: stopped: {result.stopped_by}", err=True)
    if github.active(os.environ):
        _github_report(result)
    return result.exit_code


def _github_report(result: Any) -> None:
    """Annotations on the failed videos' lines, the step summary and the step outputs."""
    manifest = result.manifest
    videos = {i.key: i.video for i in result.items}
    for o in result.outcomes:
        if o.status in ("failed", "error", "running", "interrupted"):
            video = videos.get(o.key)
            line = manifest.line_of(video) if video else None
            click.echo(github.annotation("error", f"{o.key}: {o.status}: {o.message}",
                                         manifest.file, line, title="jogg-flow"))
    rows = [{"key": o.key, "status": o.status, "project_id": o.project_id,
             "video_url": o.video_url} for o in result.outcomes]
    for variable, text in (("GITHUB_STEP_SUMMARY", github.summary_markdown(manifest.name, rows)),
                           ("GITHUB_OUTPUT", github.output_lines(rows))):
        problem = github.append(os.environ.get(variable), text)
        if problem:
            click.echo(github.annotation("warning", problem, title="jogg-flow"))


class _stop_on_signals:
    """SIGINT/SIGTERM set an event the executor watches; a second SIGINT aborts."""

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
        click.echo("stopping: finishing calls under way and saving state "
                   "(Ctrl-C again to abort)", err=True)
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
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
def outputs(manifest: str, state: str | None, select: tuple[str, ...], sandbox: bool,
            api_base: str | None, fmt: str) -> int:
    """Per video: key, project id, status, video URL, cover URL, duration."""
    rows = core.outputs(manifest, state=state, select=select, sandbox=sandbox, api_base=api_base,
                        warn=_warn)
    click.echo(report.format_rows(rows, fmt))
    return 0


@cli.command("init")
@click.argument("path", default="jogg-flow.yaml", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init_cmd(path: str, force: bool) -> int:
    """Write a commented starter manifest to PATH (default jogg-flow.yaml)."""
    write_starter(path, force)
    click.echo(f"wrote {path}; next: jogg-flow validate {path}")
    return 0


@cli.group("state")
def state_group() -> None:
    """Inspect the state, or forget a video."""


def _state_for(manifest: str, state: str | None, sandbox: bool) -> tuple[str, str]:
    loaded = load_manifest(manifest)
    return core.state_path_for(loaded, state, sandbox), core.state_name(loaded, sandbox)


@state_group.command("list")
@click.argument("manifest", type=click.Path())
@state_option
@sandbox_flag
def state_list(manifest: str, state: str | None, sandbox: bool) -> int:
    """One line per recorded video: key, status, project id."""
    records = state_store.load(*_state_for(manifest, state, sandbox)).videos
    for key, record in sorted(records.items()):
        click.echo(f"{key}\t{record.get('status')}\t{record.get('project_id') or '-'}")
    return 0


@state_group.command("show")
@click.argument("manifest", type=click.Path())
@click.argument("key")
@state_option
@sandbox_flag
def state_show(manifest: str, key: str, state: str | None, sandbox: bool) -> int:
    """The whole record of one video, as JSON."""
    record = state_store.load(*_state_for(manifest, state, sandbox)).videos.get(key)
    if record is None:
        raise click.UsageError(f"no video '{key}' in the state")
    click.echo(json.dumps(record, indent=2, sort_keys=True))
    return 0


@state_group.command("rm")
@click.argument("manifest", type=click.Path())
@click.argument("keys", nargs=-1, required=True)
@state_option
@sandbox_flag
def state_rm(manifest: str, keys: tuple[str, ...], state: str | None, sandbox: bool) -> int:
    """Forget videos: the next apply makes them anew. Nothing is deleted at JoggAI."""
    with state_store.locked(*_state_for(manifest, state, sandbox)) as store:
        missing = [k for k in keys if k not in store.videos]
        if missing:
            raise click.UsageError(f"not in the state: {', '.join(missing)}")
        for key in keys:
            store.put(key, None)
    click.echo(f"forgot {', '.join(keys)}")
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

    loaded = load_manifest(manifest)
    name = core.state_name(loaded, sandbox)
    count = migrate(source, dest, name, force=force)
    where = state_store.describe_location
    click.echo(f"copied {count} video{'' if count == 1 else 's'} from {where(source, name)} "
               f"to {where(dest, name)}")
    return 0


@cli.command("catalog")
@click.argument("kind", type=click.Choice(["avatars", "voices", "templates", "visual-styles", "music"]))
@click.option("--manifest", "manifest_path", type=click.Path(), help="Take api.version and base_url from it.")
@click.option("--api-version", type=click.Choice(["open", "v1", "v2"]),
              help="API generation [the manifest's, else open].")
@click.option("--api-base", envvar="JOGG_API_BASE", metavar="URL", help="JoggAI API base URL.")
@sandbox_flag
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def catalog_cmd(kind: str, manifest_path: str | None, api_version: str | None, api_base: str | None,
                sandbox: bool, fmt: str) -> int:
    """List what JoggAI offers for a setting, to fill a manifest without the dashboard."""
    from . import runner

    loaded = load_manifest(manifest_path) if manifest_path else None
    version = api_version or (loaded.api_version if loaded else "open")
    items = runner.catalog(kind, version, runner.ApplySettings(api_base=api_base, sandbox=sandbox),
                           manifest_base=loaded.base_url if loaded else None)
    if fmt == "json":
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
    server = Sandbox(config, host, port)
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
