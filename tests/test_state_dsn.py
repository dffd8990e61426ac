"""DSN passwords never appear in a message, whatever form the DSN takes."""

from __future__ import annotations

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
