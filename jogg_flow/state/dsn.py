"""PostgreSQL locations: telling them from file paths, naming them without their password."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

SCHEMES = ("postgresql://", "postgres://")
_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
_KW_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'&]+)", re.IGNORECASE)


def is_postgres(location: str) -> bool:
    """`--state postgresql://...` (or `postgres://...`) puts the state in PostgreSQL."""
    return location.lower().startswith(SCHEMES)


def split(location: str) -> tuple[str, str | None]:
    """(DSN to connect with, state name from a `#NAME` fragment or None)."""
    dsn, sep, name = location.partition("#")
    return dsn, (unquote(name) or None) if sep else None


def redact(text: str, dsn: str | None = None) -> str:
    """`text` with every DSN password replaced by ***, in URL and keyword forms, and the
    literal password of `dsn` wherever else it appears (an error echoing it, for one)."""
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = _KW_PASSWORD.sub(r"\1***", text)
    secret = password_of(dsn) if dsn else None
    if secret and len(secret) >= 3:
        text = text.replace(secret, "***")
    return text


def password_of(dsn: str) -> str | None:
    """The password a DSN carries, if any (URL userinfo or `password=`)."""
    try:
        parts = urlsplit(dsn)
        if parts.password:
            return unquote(parts.password)
    except ValueError:
        pass
    match = _KW_PASSWORD.search(dsn.replace("?", " ").replace("&", " "))
    return match.group(2).strip("'") if match else None


def describe(dsn: str, name: str) -> str:
    """"PostgreSQL state 'shop' on db.example:5432/jogg" for messages; never a password."""
    try:
        parts = urlsplit(dsn)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"
    except ValueError:
        where = "the database"
    return f"PostgreSQL state '{name}' on {redact(where)}"
