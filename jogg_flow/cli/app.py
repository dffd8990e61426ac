"""The command group: the documented exit codes for every error, JSON errors, the options
every command shares, and the console entry point."""

from __future__ import annotations

import errno
import gc
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from .. import __version__
from ..errors import JoggFlowError, ManifestError, Problem
from ..text import printable

# The module of this package that defines each command. A command's module is imported when
# the command is asked for, so `validate` starts without apply's executor, the gallery or the
# sandbox's server; `--help` imports them all for their one-line help.
HOMES = {"apply": "run", "plan": "run", "show": "run", "validate": "check", "preview": "preview",
         "outputs": "outputs", "state": "state_cmds", "unlock": "state_cmds", "init": "tools",
         "catalog": "tools", "schema": "tools", "sandbox": "tools"}


class _Cli(click.Group):
    """Maps every error to the documented exit codes (click would use 2 for usage), and loads
    each command's module on first use (`HOMES`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(HOMES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in HOMES:
            importlib.import_module(f"{__package__}.{HOMES[cmd_name]}")
        return super().get_command(ctx, cmd_name)

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
        from ..ui import progress

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
        click.echo(f"error: {printable(str(err))}", err=True)
        from ..ui import github  # an error's annotation for GitHub Actions; loads only on errors

        if github.active(os.environ):
            click.echo(github.annotation("error", str(err), title="jogg-flow"))


def _problems(problems: Sequence[Problem]) -> None:
    if not problems:
        return
    for problem in problems:
        click.echo(str(problem), err=True)
    from ..ui import github  # GitHub's annotations, for a run in Actions

    if github.active(os.environ):
        for line in github.problem_annotations(problems):
            click.echo(line)


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from ..manifest.model import parse_rate  # the manifest's reader (and YAML) load with a command

    try:
        return parse_rate(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """'90', '90s', '15m', '5h30m' -> seconds."""
    if value is None:
        return None
    from ..manifest.model import parse_duration

    try:
        total = parse_duration(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if total <= 0:
        raise click.BadParameter("must be more than 0 seconds")
    return total


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
    click.echo(f"warning: {printable(message)}", err=True)
select_option = click.option("--select", "select", multiple=True, metavar="GLOB",
                             help="Only these videos: a key glob or tag:NAME (repeatable).")
output_option = click.option("--output", "output", type=click.Choice(["text", "json"]),
                             default="text", show_default=True)
retry_failed_option = click.option(
    "--retry-failed", is_flag=True,
    help="Render again the videos whose last render JoggAI failed (a new render that costs "
    "credits; never done without this).")
rerender_option = click.option(
    "--rerender-unseen-after", callback=_duration, metavar="DURATION",
    help="Render again a needs-check video whose lost render still shows nothing (open: its "
    "project reads status 1; v2: no video of its name) DURATION after its POST, e.g. 6h. Off by "
    "default: if JoggAI did accept the first render, this pays twice. Never under v1.")
sandbox_flag = click.option("--sandbox", is_flag=True,
                            help="Use the built-in sandbox API (and its own state file).")


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jogg-flow")
def cli() -> None:
    """Declarative, resumable JoggAI promotional videos from a YAML manifest."""



def main(*args: Any, **kwargs: Any) -> Any:
    """The console entry point. Loading a manifest builds a large tree with no cycles, on
    which the collector's passes free nothing and grow with its size (628 full passes at
    10,000 products): it is paused here, with everything imported frozen out of its sight,
    and `runner` turns it back on before a run that lasts minutes."""
    gc.freeze()
    gc.disable()
    return cli.main(*args, **kwargs)
