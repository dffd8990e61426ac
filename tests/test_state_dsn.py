"""DSN passwords never appear in a message, whatever form the DSN takes."""

from __future__ import annotations

import re

import pytest

from jogg_flow.state.dsn import describe, is_postgres, redact, split


@pytest.mark.parametrize("text", [
    "postgresql://jf:S3cr3t-pw@db.example:5432/jogg",
    "could not connect to postgres://jf:S3cr3t-pw@db.example/jogg: refused",
    "host=db.example user=jf password=S3cr3t-pw dbname=jogg",
    "host=db.example password = 'S3cr3t-pw' dbname=jogg",
    "postgresql://jf@db.example/jogg?password=S3cr3t-pw&sslmode=require",
    "PASSWORD=S3cr3t-pw",
])
def test_redact_hides_the_password_in_every_form(text):
    out = redact(text)
    assert "S3cr3t-pw" not in out and "***" in out


def test_redact_hides_a_literal_echo_of_the_dsn_password():
    dsn = "postgresql://jf:S3cr3t-pw@db.example/jogg"
    assert "S3cr3t-pw" not in redact('server said: "S3cr3t-pw" is wrong', dsn)


def test_locations():
    assert is_postgres("postgresql://x/y") and is_postgres("POSTGRES://x") and not is_postgres("s.json")
    assert split("postgresql://h/db#shop") == ("postgresql://h/db", "shop")
    assert split("postgresql://h/db") == ("postgresql://h/db", None)
    text = describe("postgresql://jf:S3cr3t-pw@db.example:6543/jogg", "shop")
    assert text == "PostgreSQL state 'shop' on db.example:6543/jogg"


# Issue 22, item 11: a password written raw with '#' or '@' (or '/') is all password: it is
# neither cut at the '#' into a state name nor at the first '@' into a host name.
RAW = [("postgresql://jf:Pa#ss-w0rd@db.example:6543/jogg", "Pa#ss-w0rd", None),
       ("postgresql://jf:P@ss-w0rd@db.example:6543/jogg#shop", "P@ss-w0rd", "shop"),
       ("postgres://jf:S3cr/et#Pa55@word9@db.example:6543/jogg?sslmode=require#shop", "S3cr/et#Pa55@word9",
        "shop")]


@pytest.mark.parametrize("location, password, name", RAW)
def test_a_raw_hash_or_at_in_the_password_stays_in_the_password(location, password, name):
    from jogg_flow.state.dsn import password_of

    dsn, fragment = split(location)
    assert fragment == name and password_of(dsn) == password
    assert "#" not in dsn and dsn.count("@") == 1
    echoed = re.split(r"[@#]", password, maxsplit=1)[1]  # what a parser cutting at the first one keeps
    for text in (describe(dsn, fragment or "n"), redact(location), redact(f"could not connect to {location}"),
                 redact(f'could not translate host name "{echoed}@db.example"', dsn)):
        assert not any(piece in text for piece in (password, echoed, "w0rd", "word9")), text
    assert describe(dsn, fragment or "n").endswith("on db.example:6543/jogg")


def test_a_query_holding_an_at_is_not_taken_for_a_user():
    assert split("postgresql://h/db?options=x@y#shop") == ("postgresql://h/db?options=x@y", "shop")
