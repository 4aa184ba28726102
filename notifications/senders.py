"""Talking to receivers: Django's mail, the Telegram Bot API, signed webhooks.

Every call is bounded (``NOTIFICATIONS_HTTP_TIMEOUT`` for each phase of an HTTP
request, ``EMAIL_TIMEOUT`` for SMTP), so a receiver that hangs costs one attempt's
timeout, never a worker. A failure says whether trying again can help
(``Retryable``: a timeout, a refused connection, a 5xx, a 429) or not (``Permanent``:
a 4xx that will answer the same forever). Secrets never appear in a failure's text.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urlsplit

import httpx
import orjson
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from realtime.views import sign  # the very signature of POST internal/events

USER_AGENT = "Botfleet-Notifications/1"


class SendFailed(Exception):
    retryable = True

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason[:300])
        self.reason = reason[:300]
        self.status = status
        self.retry_after = retry_after


class Retryable(SendFailed):
    retryable = True


class Permanent(SendFailed):
    retryable = False


def _timeout() -> httpx.Timeout:
    seconds = float(getattr(settings, "NOTIFICATIONS_HTTP_TIMEOUT", 5.0))
    return httpx.Timeout(seconds, connect=min(seconds, 3.0))


def _post(url: str, *, content: bytes, headers: dict, what: str) -> httpx.Response:
    try:
        with httpx.Client(timeout=_timeout(), follow_redirects=False, trust_env=False) as client:
            response = client.post(url, content=content, headers={"User-Agent": USER_AGENT, **headers})
    except httpx.TimeoutException as exc:
        raise Retryable(f"{what} did not answer in time ({exc.__class__.__name__})") from None
    except httpx.HTTPError as exc:
        raise Retryable(f"{what} unreachable ({exc.__class__.__name__})") from None
    _raise_for_status(response, what)
    return response


def _raise_for_status(response: httpx.Response, what: str) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    retry_after = _retry_after(response)
    if code in (408, 425, 429) or code >= 500:
        raise Retryable(f"{what} answered HTTP {code}", status=code, retry_after=retry_after)
    raise Permanent(f"{what} answered HTTP {code}", status=code)


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After", "")
    try:
        return min(float(raw), 3600.0) if raw else None
    except ValueError:
        return None


# -- webhooks -------------------------------------------------------------------------------
def webhook_headers(*, secret: str, body: bytes, key: str, timestamp: str | None = None) -> dict:
    timestamp = timestamp or str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-Botfleet-Timestamp": timestamp,
        "X-Botfleet-Signature": sign(secret, timestamp, body),
        "Idempotency-Key": key,
    }


def private_address(url: str) -> str | None:
    """The loopback/private/link-local address ``url``'s host resolves to, if any.

    A webhook is a request our server makes on a user's behalf: without this, a user
    could make it probe the internal network or a cloud metadata service. Checked at
    every attempt (DNS may change); ``NOTIFICATIONS_ALLOW_PRIVATE_URLS`` turns it off.
    """
    if getattr(settings, "NOTIFICATIONS_ALLOW_PRIVATE_URLS", False):
        return None
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None  # unresolvable: the request itself fails (and is retried)
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            return str(address)
    return None


def send_webhook(*, url: str, secret: str, document: dict, key: str) -> int:
    blocked = private_address(url)
    if blocked:
        raise Permanent(f"the webhook's host resolves to a non-public address ({blocked})")
    body = orjson.dumps(document)
    response = _post(url, content=body, headers=webhook_headers(secret=secret, body=body, key=key), what="the webhook")
    return response.status_code


# -- Telegram -------------------------------------------------------------------------------
def _telegram_url(token: str, method: str) -> str:
    base = getattr(settings, "TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
    return f"{base}/bot{token}/{method}"


def _telegram(token: str, method: str, params: dict) -> dict:
    if not token:
        raise Permanent("no Telegram bot token (set TELEGRAM_BOT_TOKEN or give the channel a bot_token)")
    try:
        response = _post(
            _telegram_url(token, method),
            content=orjson.dumps(params),
            headers={"Content-Type": "application/json"},
            what="Telegram",
        )
    except SendFailed as exc:
        # 401/404 from the Bot API: the token is wrong (never echo the URL: it holds it).
        if exc.status in (401, 404):
            raise Permanent("Telegram refused the bot token", status=exc.status) from None
        raise
    try:
        data = response.json()
    except ValueError:
        raise Retryable("Telegram answered something that is not JSON", status=response.status_code) from None
    if not isinstance(data, dict) or not data.get("ok"):
        raise Permanent(f"Telegram said no: {str(data.get('description', ''))[:200]}", status=response.status_code)
    return data


def send_telegram(*, token: str, chat_id: str, text: str) -> int:
    _telegram(token, "sendMessage", {"chat_id": chat_id, "text": text[:4000], "disable_web_page_preview": True})
    return 200


def telegram_updates(*, token: str, offset: int | None = None) -> list[dict]:
    """Messages the bot received (no long poll: the caller must not wait)."""
    params = {"timeout": 0, "allowed_updates": ["message"]}
    if offset is not None:
        params["offset"] = offset
    result = _telegram(token, "getUpdates", params).get("result")
    return result if isinstance(result, list) else []


# -- e-mail ---------------------------------------------------------------------------------
def send_email(*, address: str, subject: str, text: str, key: str) -> None:
    try:
        connection = get_connection(timeout=getattr(settings, "EMAIL_TIMEOUT", 10))
        message = EmailMessage(
            subject=subject[:200],
            body=text,
            to=[address],
            headers={"X-Botfleet-Idempotency-Key": key},
            connection=connection,
        )
        message.send(fail_silently=False)
    except OSError as exc:  # smtplib's errors, timeouts and refused connections are OSErrors
        raise Retryable(f"the mail server failed ({exc.__class__.__name__})") from None
