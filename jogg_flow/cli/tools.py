"""The helpers around a manifest: init, catalog, schema and the sandbox server."""

from __future__ import annotations

import errno
import gc
import json

import click

from ..api.generations import VERSIONS
from ..app.scope import Scope
from ..app.starter import ignore_state_folder, write_starter
from ..errors import UsageError
from ..manifest import load_manifest, schema
from ..sandbox import FAULT_KINDS, Config, Fault
from ..ui import report
from .app import (
    _json_errors,
    _sandbox_or_base,
    cli,
    sandbox_flag,
)


@cli.command("init")
@click.argument("path", default="jogg-flow.yaml", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--from", "feed", type=click.Path(dir_okay=False),
              help="A catalogue feed (CSV, TSV, Shopify export, JSON, JSON Lines, Merchant XML) to map.")
def init_cmd(path: str, force: bool, feed: str | None) -> int:
    """Write a commented starter manifest to PATH (default jogg-flow.yaml)."""
    if feed:
        from ..app.feed_starter import write_from_feed

        write_from_feed(path, feed, force)
    else:
        write_starter(path, force)
    ignored = ignore_state_folder(path)
    also = f" and {ignored} (.jogg-flow/, the state and sandbox trials, stays out of git)" if ignored else ""
    click.echo(f"wrote {path}{also}; next: jogg-flow validate {path}")
    return 0



@cli.command("catalog")
@click.argument("kind", type=click.Choice(["avatars", "voices", "templates", "visual-styles", "music"]))
@click.option("--manifest", "manifest_path", type=click.Path(), help="Take api.version and base_url from it.")
@click.option("--api-version", type=click.Choice(VERSIONS),
              help="API generation [the manifest's, else open].")
@click.option("--api-base", envvar="JOGG_API_BASE", metavar="URL", help="JoggAI API base URL.")
@sandbox_flag
@click.option("--output", "output", type=click.Choice(["text", "json"]), default=None,
              help="text (a table) or json [text].")
@click.option("--format", "fmt", type=click.Choice(["table", "text", "json"]), default=None, hidden=True)
def catalog_cmd(kind: str, manifest_path: str | None, api_version: str | None, api_base: str | None,
                sandbox: bool, output: str | None, fmt: str | None) -> int:
    """List what JoggAI offers for a setting, to fill a manifest without the dashboard."""
    from ..app import online as runner

    _json_errors((output or fmt) == "json")
    _sandbox_or_base(sandbox, api_base)
    loaded = load_manifest(manifest_path, offline=True, media=False) if manifest_path else None
    version = api_version or (loaded.api_version if loaded else "open")
    items = runner.catalog(kind, version, Scope(manifest_path or "", sandbox=sandbox, api_base=api_base),
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
@click.option("--retire", multiple=True, type=click.Choice(VERSIONS),
              help="Every route of this generation answers a bare HTML 404.")
def sandbox_cmd(host: str, port: int, render_seconds: float, time_scale: float, post_limit: int,
                post_window: float, latency: float, fail_rate: float, seed: int,
                accept_key: tuple[str, ...], faults: tuple[str, ...], fault_rates: tuple[str, ...],
                realistic: bool, no_retry_hint: bool, html_404: bool, start_seconds: float,
                retire: tuple[str, ...]) -> int:
    """Run the built-in JoggAI-compatible API until interrupted."""
    from ..sandbox import Sandbox
    from ..sandbox import realistic as make_realistic

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
    try:  # Ctrl-C from the moment the banner may be seen is a clean stop
        click.echo(f"JoggAI sandbox on {server.url} (stats: {server.url}/_sandbox/stats)", err=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
