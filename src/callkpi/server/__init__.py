"""The callkpi server (``callkpi serve``): a FastAPI app over one warehouse, with users,
roles and scopes, web sessions and API tokens, and every KPI query limited to the
caller's scope. See docs/server.md.

:mod:`callkpi.server.auth` (users, tokens, sessions, audit; SQLite) needs no web
framework, so the CLI's ``callkpi users`` imports only that.
"""

from __future__ import annotations

from callkpi.server.auth import (
    ROLES,
    SCOPE_DIMENSIONS,
    AuthError,
    AuthStore,
    Scope,
    User,
    auth_path_for,
)

__all__ = ["ROLES", "SCOPE_DIMENSIONS", "AuthError", "AuthStore", "Scope", "User", "auth_path_for"]
