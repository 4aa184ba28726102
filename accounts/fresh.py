"""Sensitive actions ask for a fresh authenticator code when 2FA is on (the HTTP side).

Views of other apps call :func:`require_fresh_code` (credentials: saving or deleting
keys); the check itself is ``accounts.services.two_factor.check_fresh_code``.
"""

from __future__ import annotations

from accounts.models import ApiToken
from accounts.services.two_factor import check_fresh_code

HEADER = "X-2FA-Code"
FIELD = "two_factor_code"


def fresh_code(request, data=None) -> str:
    """The code a request came with: the ``X-2FA-Code`` header, else a ``two_factor_code`` field."""
    header = request.headers.get(HEADER, "")
    if data is None:
        data = getattr(request, "data", None)
    body = data.get(FIELD) if hasattr(data, "get") else ""
    return str(header or body or "").strip()[:32]


def require_fresh_code(request) -> None:
    """Raise unless the request may do a sensitive action: no 2FA, or a current code.

    A personal API token is let through: it reaches a sensitive action only with the
    scope granted for it (``keys``), and creating such a token already asked for a code;
    a script cannot read an authenticator app.
    """
    if isinstance(request.auth, ApiToken):
        return
    check_fresh_code(user=request.user, code=fresh_code(request))
