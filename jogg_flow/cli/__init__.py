"""The command line: parse arguments, call one function in `core` or `runner`, map the result
to an exit code. `app` holds the group and what every command shares; each command module
registers its commands on it when imported here."""

from . import outputs, preview, run, state_cmds, tools  # noqa: F401  (registers the commands)
from .app import cli, main

__all__ = ["cli", "main"]
