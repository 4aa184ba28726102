"""The client's IP address, as far as we can trust it.

``X-Forwarded-For`` is read only through ``TRUSTED_PROXY_COUNT`` proxies: each proxy
appends the address it received the request from, so with N trusted proxies the
client is the N-th entry from the right. Anything further left was written by the
client itself and is ignored, so a spoofed header cannot dodge a lockout.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104 - a value, not a bind
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote
    return _valid_ip(forwarded[-proxies]) or remote
