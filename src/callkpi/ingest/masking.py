"""Masking caller numbers at ingest.

A masked number is ``anon:`` plus 16 hex digits of SHA-256 over a secret key and the
number: the same caller always gets the same token, so repeat-contact and FCR still work,
but the number itself is not stored. The key comes from the ``CALLKPI_MASK_KEY``
environment variable, or is generated once and kept in the warehouse's ``callkpi_meta``
table. Keeping it in the warehouse protects the numbers from anyone who sees dashboards,
exports or reports; whoever holds both the database file and its key can still test
guesses, so keep ``CALLKPI_MASK_KEY`` outside the file where that matters.
"""

from __future__ import annotations

import hashlib
import os
import secrets

import duckdb

from callkpi.store import fetch_scalar

PREFIX = "anon:"


def mask_key(con: duckdb.DuckDBPyConnection) -> str:
    env = os.environ.get("CALLKPI_MASK_KEY")
    if env:
        return env
    stored = fetch_scalar(con, "SELECT value FROM callkpi_meta WHERE key = 'mask_key'")
    if stored:
        return str(stored)
    key = secrets.token_hex(32)
    con.execute("INSERT INTO callkpi_meta VALUES ('mask_key', ?)", [key])
    return key


def mask_value(number: str | None, key: str) -> str | None:
    if not number:
        return number
    return PREFIX + hashlib.sha256((key + number).encode()).hexdigest()[:16]


def mask_sql(expr: str, key: str) -> str:
    """The SQL twin of :func:`mask_value` (the key is hex, so it is safe to inline)."""
    if not all(c in "0123456789abcdefABCDEF" for c in key):
        key_sql = "'" + key.replace("'", "''") + "'"
    else:
        key_sql = f"'{key}'"
    return (
        f"(CASE WHEN coalesce({expr}, '') = '' THEN {expr} "
        f"ELSE '{PREFIX}' || left(sha256({key_sql} || {expr}), 16) END)"
    )
