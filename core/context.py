"""Per-request context readable from anywhere (logs, audit, errors).

The middleware sets it at the start of each request, so the domain (services, the
audit trail) learns who is asking from where without ever being handed an
``HttpRequest``; outside a request (the engine, Celery, ``manage.py``) it is empty.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    client_ip: str | None
    user_agent: str = ""


request_context_var: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def current_request_id() -> str:
    return request_id_var.get()


def current_request() -> RequestContext | None:
    """What the current request says about its origin, or ``None`` outside a request."""
    return request_context_var.get()


def current_client_ip() -> str | None:
    context = request_context_var.get()
    return context.client_ip if context is not None else None


def enter_request(context: RequestContext) -> Token:
    return request_context_var.set(context)


def leave_request(token: Token) -> None:
    try:
        request_context_var.reset(token)
    except ValueError:  # reset from another context (a sync/async hop): clear it instead
        request_context_var.set(None)
