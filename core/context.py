"""Per-request context readable from anywhere (logs, audit, errors).

``RequestIdMiddleware`` sets both for every request; outside a request (the engine,
Celery tasks, management commands) they keep their defaults, so a service called
from there records no IP and no request id rather than pretending to be a request.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


@dataclass(frozen=True)
class RequestContext:
    """Who is asking, as far as the transport knows: for audit entries and sessions."""

    request_id: str = ""
    client_ip: str | None = None
    user_agent: str = ""


NO_REQUEST = RequestContext()

request_context: ContextVar[RequestContext] = ContextVar("request_context", default=NO_REQUEST)


def current_request_id() -> str:
    return request_id_var.get()


def current_request_context() -> RequestContext:
    return request_context.get()
