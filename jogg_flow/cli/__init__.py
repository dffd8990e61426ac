"""The command line: parse arguments, call one function in `app`, map the result to an exit
code. `app` holds the group and what every command shares; each command module registers its
commands on it when imported, which the group does when a command is asked for (`HOMES`)."""

from .app import HOMES, cli, main

__all__ = ["HOMES", "cli", "main"]
