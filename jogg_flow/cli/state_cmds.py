"""The state commands: list, show, rm, mv, import, migrate, adopt, rerender, and unlock."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from .. import state as state_store
from ..app.scope import Scope, state_name, state_path_for, unlock_command
from ..engine.planner import ago, epoch
from ..errors import UsageError
from ..manifest import load_manifest
from ..state import unlock
from ..state.status import of_record as shown_status
from ..text import printable
from .app import (
    _json_errors,
    _sandbox_or_base,
    api_base_option,
    cli,
    sandbox_flag,
    state_option,
)
from .run import sandbox_media_dir


@cli.group("state")
def state_group() -> None:
    """Inspect the state, or forget a video."""


def _state_for(manifest: str, state: str | None, sandbox: bool) -> tuple[str, str]:
    loaded = load_manifest(manifest, offline=True, media=False)  # its name only: nothing fetched or read
    return state_path_for(loaded, state, sandbox), state_name(loaded, sandbox)


def _locked(manifest: str, state: str | None, sandbox: bool) -> Any:
    """The state under its lock; a lock another run holds is refused naming the command that
    frees it, with this command's own manifest and flags."""
    unlock = unlock_command(Scope(manifest, state=state, sandbox=sandbox))
    return state_store.locked(*_state_for(manifest, state, sandbox), unlock=unlock)


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
    location, name = _state_for(manifest, state, sandbox)
    store = state_store.load(location, name)
    records = store.videos
    if not store.existed:
        where = state_store.describe_location(location, name)
        click.echo(_no_state(manifest, state, sandbox, where), err=True)
    if output == "json":
        click.echo(json.dumps([{"key": key, "status": shown_status(r), "project_id": r.get("project_id")}
                               for key, r in sorted(records.items())], indent=2))
        return 0
    for key, record in sorted(records.items()):
        age = _needs_check_age(record)
        status = shown_status(record) + (f" for {age}" if age else "")
        click.echo("\t".join(printable(str(v)) for v in (key, status, record.get("project_id") or "-")))
    return 0


def _needs_check_age(record: dict[str, Any]) -> str:
    """How long a needs-check video has waited for its evidence ("3 h"); "" for any other."""
    since = record.get("needs_check_since")
    start = epoch(since) if shown_status(record) == "needs-check" and isinstance(since, str) else None
    return "" if start is None else ago(max(0.0, time.time() - start))


def _no_state(manifest: str, state: str | None, sandbox: bool, where: str) -> str:
    """Why `state list` lists nothing: no state yet, or only the other one (the sandbox's, or
    JoggAI's) has videos, with the flag that shows it."""
    said = f"no state at {printable(where)}"
    if state:
        return f"{said}: nothing recorded yet"
    other = state_store.load(*_state_for(manifest, None, not sandbox))
    if other.existed and other.videos:
        n = len(other.videos)
        whose, flag = ("JoggAI's", "") if sandbox else ("the sandbox's", " --sandbox")
        return (f"{said}; {whose} state of this manifest has {n} video{'' if n == 1 else 's'}: "
                f"`jogg-flow state list {printable(manifest)}{flag}` lists them")
    return f"{said}: nothing applied yet"


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
    # The status in today's words (an older state's `new` is `pending`), a needs-check's age
    # (`needs_check_for`, read now); the rest as stored.
    age = _needs_check_age(record)
    shown = {**record, "status": shown_status(record), **({"needs_check_for": age} if age else {})}
    click.echo(json.dumps(shown, indent=2, sort_keys=True))
    return 0


@state_group.command("rm")
@click.argument("manifest", type=click.Path())
@click.argument("keys", nargs=-1, required=True)
@state_option
@sandbox_flag
def state_rm(manifest: str, keys: tuple[str, ...], state: str | None, sandbox: bool) -> int:
    """Forget videos (KEY or a glob: 'blender/*'): the next apply makes them anew.
    Nothing is deleted at JoggAI."""
    from ..state.edits import matching

    with _locked(manifest, state, sandbox) as store:
        found = matching(store, keys)
        for key in found:
            store.put(key, None)
    if sandbox:  # the videos a --sandbox run kept go with their records
        from ..sandbox.media import forget

        forget(sandbox_media_dir(manifest), found)
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
    from ..state.edits import move

    with _locked(manifest, state, sandbox) as store:
        move(store, old, new)
    if sandbox:  # the video a --sandbox run kept follows its record
        from ..sandbox.media import rename

        rename(sandbox_media_dir(manifest), old, new)
    click.echo(f"moved {old} to {new}")
    return 0


@state_group.command("import")
@click.argument("manifest", type=click.Path())
@click.argument("key")
@click.argument("project_id")
@state_option
@api_base_option
@sandbox_flag
def state_import(manifest: str, key: str, project_id: str, state: str | None, api_base: str | None,
                 sandbox: bool) -> int:
    """Adopt a video made outside jogg-flow as KEY, after reading PROJECT_ID at the API (a free GET)."""
    from ..app import online as runner

    _sandbox_or_base(sandbox, api_base)
    record = runner.import_video(Scope(manifest, state=state, api_base=api_base, sandbox=sandbox),
                                 key, project_id)
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
    from ..state.migrate import migrate

    loaded = load_manifest(manifest, offline=True, media=False)
    name = state_name(loaded, sandbox)
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
    from ..state.edits import settle

    with _locked(manifest, state, sandbox) as store:
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
    from ..state.edits import settle

    with _locked(manifest, state, sandbox) as store:
        settle(store, key, None)
    click.echo(f"{key}: the next apply renders it again")
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
