"""The one view of the web app: its HTML shell, the same for every page the app routes.

Everything else is static (ES modules and CSS under ``static/web/``) and talks to the
server only through the public API and the WebSocket stream.
"""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe


def content_security_policy(request) -> str:
    """Scripts, styles and connections from this origin only; no inline script, no eval,
    no plugin, no framing, no <base> hijack, forms post nowhere else."""
    host = request.get_host()
    ws = f"wss://{host}" if request.is_secure() else f"ws://{host} wss://{host}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' {ws}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


@csrf_exempt  # it answers GET and HEAD only: any other method is a 405, not a CSRF 403
@require_safe
@never_cache  # the shell names the current assets; it must never be served stale
def shell(request, **_route):
    response = render(request, "web/index.html")
    response["Content-Security-Policy"] = content_security_policy(request)
    response["Cross-Origin-Opener-Policy"] = "same-origin"
    response["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    return response
