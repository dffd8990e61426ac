"""Files a manifest names, opened only inside the manifest's folder tree.

A manifest in a pull request is someone else's text, run by CI beside the checkout's
`.git/config` and the runner's environment: `file: ../.git/config` or
`file: /proc/self/environ` must read nothing. A name is relative, resolves (symlinks
included) inside the manifest's folder, and is a regular file; anything else is refused
before a byte of it is read.
"""

from __future__ import annotations

import os
import re
import stat
from typing import BinaryIO

from .fetch import FetchError

_DRIVE = re.compile(r"[A-Za-z]:")  # C:\..., C:foo: absolute on Windows
_SYSTEM = ("/proc", "/dev", "/sys")  # never files of a repository, wherever the manifest is
_HINT = "{what}s are named relative to the manifest's folder and stay inside it"


class Outside(FetchError):
    """A name that leads out of the manifest's folder tree (or to a system file)."""


def inside(root: str, name: str, what: str = "feed") -> str:
    """The real path of `name` (relative to the folder `root`), refused when it leaves `root`;
    `what` names the kind of file in messages (a feed, a media file)."""
    hint = _HINT.format(what=what)
    if "\0" in name:
        raise FetchError(f"{name!r}: a file name cannot hold a NUL byte")
    if os.path.isabs(name) or name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise Outside(f"{name}: is an absolute path; {hint}")
    top = os.path.realpath(root)
    real = os.path.realpath(os.path.join(top, name))
    if not _under(top, real):
        how = "through a symbolic link " if _under(top, os.path.normpath(os.path.join(top, name))) else ""
        raise Outside(f"{name}: leads {how}outside the manifest's folder; {hint}")
    if any(_under(system, real) for system in _SYSTEM):
        raise Outside(f"{name}: is a system file, not a {what}")
    # A manifest at the top of a checkout has `.git` in its tree, and the checkout's token in
    # `.git/config`: no feed lives there.
    if any(part.lower() == ".git" for part in os.path.relpath(real, top).split(os.sep)):
        raise Outside(f"{name}: is inside a .git folder, not a {what}")
    return real


def open_inside(root: str, name: str, shown: str, what: str = "feed") -> BinaryIO:
    """`name` opened for reading: a regular file inside `root` (see `inside`); `shown`
    names it in messages, `what` its kind."""
    real = inside(root, name, what)
    # O_NONBLOCK: opening a FIFO planted in the tree must not wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | \
        getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(real, flags)
    except OSError as err:
        raise FetchError(f"{shown}: cannot read ({err.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FetchError(f"{shown}: is a directory, not a {what} file")
        if not stat.S_ISREG(info.st_mode):
            raise FetchError(f"{shown}: is not a regular file (a device, pipe or socket); refused")
        # A folder swapped for a link between resolving and opening: the name must still
        # resolve, inside, to the very file that was opened.
        try:
            now = os.stat(inside(root, name, what))
        except OSError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
            raise FetchError(f"{shown}: changed while it was opened; refused")
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _under(top: str, path: str) -> bool:
    try:
        return os.path.commonpath([top, path]) == top
    except ValueError:  # another drive (Windows)
        return False
