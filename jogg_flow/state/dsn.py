"""PostgreSQL locations: telling them from file paths, naming them without their password."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

SCHEMES = ("postgresql://", "postgres://")
# Up to the last '@' of the word: a password written raw may hold '@', '#', '/' or '?'.
_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)\S*@", re.IGNORECASE)
_NAME = re.compile(r"[^@/:?#\s]+")  # a `#NAME` fragment: never a piece of a password
_KW_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'&]+)", re.IGNORECASE)


def is_postgres(location: str) -> bool:
    """`--state postgresql://...` (or `postgres://...`) puts the state in PostgreSQL."""
    return location.lower().startswith(SCHEMES)


def split(location: str) -> tuple[str, str | None]:
    """(DSN to connect with, state name from a `#NAME` fragment or None).

    The fragment is what follows the last '#', when that cannot be the rest of a password
    written raw (it holds no '@', '/' or ':'); the DSN's password is then percent-encoded, so
    that libpq reads all of it as the password and no piece of it becomes a host name or a
    state name in a message."""
    dsn, sep, name = location.rpartition("#")
    if not sep or not _NAME.fullmatch(name):
        dsn, name = location, ""
    return _encoded(dsn), unquote(name) or None


def _encoded(dsn: str) -> str:
    """A URL DSN whose user and password are percent-encoded (as given, or written raw)."""
    found = _userinfo(dsn)
    if found is None:
        return dsn
    scheme, userinfo, rest = found
    user, sep, password = userinfo.partition(":")
    safe = quote(unquote(user), safe="") + (sep + quote(unquote(password), safe="") if sep else "")
    return f"{scheme}{safe}@{rest}"


def _userinfo(dsn: str) -> tuple[str, str, str] | None:
    """(scheme://, user[:password], host and the rest) of a URL DSN with a user, else None.
    The user part ends at the last '@' before the query: a raw '@', '#' or '/' belongs to
    the password (a '?' there must be written %3F, as the query starts at the first one)."""
    if not is_postgres(dsn):
        return None
    scheme, _, rest = dsn.partition("://")
    at = rest.rfind("@", 0, rest.find("?") if "?" in rest else len(rest))
    if at < 0:
        return None
    return scheme + "://", rest[:at], rest[at + 1:]


def redact(text: str, dsn: str | None = None) -> str:
    """`text` with every DSN password replaced by ***, in URL and keyword forms, and the
    literal password of `dsn` wherever else it appears (an error echoing it, for one)."""
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = _KW_PASSWORD.sub(r"\1***", text)
    secret = password_of(dsn) if dsn else None
    if secret and len(secret) >= 3:
        text = text.replace(secret, "***")
        # A server or libpq that cut the password at a '@', '#' or '/' echoes a piece of it.
        for piece in sorted(re.split(r"[@#/?:]", secret), key=len, reverse=True):
            if len(piece) >= 4:
                text = text.replace(piece, "***")
    return text


def password_of(dsn: str) -> str | None:
    """The password a DSN carries, if any (URL userinfo or `password=`)."""
    found = _userinfo(dsn)
    if found is not None and ":" in found[1]:
        return unquote(found[1].partition(":")[2]) or None
    match = _KW_PASSWORD.search(dsn.replace("?", " ").replace("&", " "))
    return match.group(2).strip("'") if match else None


def describe(dsn: str, name: str) -> str:
    """"PostgreSQL state 'shop' on db.example:5432/jogg" for messages; never a password."""
    found = _userinfo(dsn)
    try:
        parts = urlsplit(f"postgresql://{found[2]}" if found else dsn)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"
    except ValueError:
        where = "the database"
    return f"PostgreSQL state '{name}' on {redact(where)}"
