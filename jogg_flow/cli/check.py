"""validate: the manifests read and checked, every problem at its line. Its own module: the
pre-commit hook's command loads the manifest's reader and nothing of plan or apply."""

from __future__ import annotations

import json

import click

from ..app import check
from ..text import printable
from .app import _json_errors, _problems, cli, output_option


@cli.command()
@click.argument("manifests", nargs=-1, required=True, type=click.Path(dir_okay=True))
@output_option
@click.option("--offline", is_flag=True, help="Do not fetch URL feeds (their products are not checked).")
def validate(manifests: tuple[str, ...], output: str, offline: bool) -> int:
    """Parse, schema-check and render MANIFESTS; print every problem as FILE:LINE:COL."""
    _json_errors(output == "json")  # an error past the manifests' problems (they are in the list)
    results = check.validate(manifests, offline=offline)
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
                click.echo(printable(f"note: {feed.source}: {feed.note}"), err=True)
        if output == "text" and r.manifest:
            n = len(r.manifest.videos)
            click.echo(f"{printable(r.file)}: ok ({n} video{'' if n == 1 else 's'})")
    return 3 if any(r.problems for r in results) else 0
