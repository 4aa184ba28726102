"""One error envelope for every error (API.md "Conventions").

``{"success": false, "error": {"code", "message", "details", "timestamp", "request_id"}}``

DRF exceptions and the domain's errors (``core.errors``) come through
:func:`exception_handler`, the one place that picks an HTTP status for a domain error;
Django's own 404/500 and anything raised outside DRF under ``/api/`` come through
``ApiErrorMiddleware``.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.response import Response

from core import errors as domain
from core.context import current_request_id
from core.renderers import dumps

logger = logging.getLogger("botfleet.api")


class ApiError(exceptions.APIException):
    """Base of our domain errors: a status, a stable code and a message."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "BAD_REQUEST"
    default_detail = "Bad request."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict | None = None,
        headers: dict | None = None,
    ):
        super().__init__(detail=message or self.default_detail, code=code or self.default_code)
        self.error_code = code or self.default_code
        self.details = details or {}
        self.headers = headers or {}


class Unauthorized(ApiError):
    """401 that DRF leaves alone (it turns AuthenticationFailed into 403 on views
    without authenticators, such as login)."""

    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "AUTHENTICATION_FAILED"
    default_detail = "Authentication failed."

    def __init__(self, message: str | None = None, **kwargs):
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="api"'})
        super().__init__(message, **kwargs)


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "CONFLICT"
    default_detail = "The request conflicts with the current state."


class Locked(ApiError):
    status_code = status.HTTP_423_LOCKED
    default_code = "LOCKED"
    default_detail = "The resource is locked."


class TooManyRequests(ApiError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "RATE_LIMITED"
    default_detail = "Too many requests."


class ServiceUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "SERVICE_UNAVAILABLE"
    default_detail = "A service this request needs is unavailable; try again shortly."


class Busy(ApiError):
    """More writes at once than the embedded default's SQLite takes: the request did nothing,
    and the client is told when to try again (a 429 like any other excess, not a 5xx)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "SERVER_BUSY"
    default_detail = "The server is busy with other writes; nothing was done. Try again shortly."
    wait = 5


class AccountDisabled(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "ACCOUNT_DISABLED"
    default_detail = "This account has been disabled by staff."


# The status of each kind of domain error; a subclass takes its nearest base's.
_DOMAIN_STATUS = {
    domain.NotFound: status.HTTP_404_NOT_FOUND,
    domain.Conflict: status.HTTP_409_CONFLICT,
    domain.Locked: status.HTTP_423_LOCKED,
    domain.Forbidden: status.HTTP_403_FORBIDDEN,
    domain.Unauthenticated: status.HTTP_401_UNAUTHORIZED,
    domain.RateLimited: status.HTTP_429_TOO_MANY_REQUESTS,
    domain.Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    domain.Invalid: status.HTTP_400_BAD_REQUEST,
}


def domain_status(exc: domain.ApplicationError) -> int:
    for cls in type(exc).__mro__:
        if cls in _DOMAIN_STATUS:
            return _DOMAIN_STATUS[cls]
    return status.HTTP_400_BAD_REQUEST


def _from_domain(exc: domain.ApplicationError) -> ApiError:
    headers = {}
    if isinstance(exc, domain.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    if isinstance(exc, domain.RateLimited) and exc.retry_after is not None:
        headers["Retry-After"] = str(int(exc.retry_after))
    error = ApiError(exc.message, code=exc.code, details=exc.details, headers=headers)
    error.status_code = domain_status(exc)
    return error


_CODES = {
    exceptions.ValidationError: "VALIDATION_ERROR",
    exceptions.ParseError: "PARSE_ERROR",
    exceptions.AuthenticationFailed: "AUTHENTICATION_FAILED",
    exceptions.NotAuthenticated: "NOT_AUTHENTICATED",
    exceptions.PermissionDenied: "PERMISSION_DENIED",
    exceptions.NotFound: "NOT_FOUND",
    exceptions.MethodNotAllowed: "METHOD_NOT_ALLOWED",
    exceptions.NotAcceptable: "NOT_ACCEPTABLE",
    exceptions.UnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
    exceptions.Throttled: "RATE_LIMITED",
}

_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "NOT_AUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    423: "LOCKED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}

_MESSAGES = {
    404: "Not found.",
    405: "Method not allowed.",
    413: "Request body too large.",
    500: "Internal server error.",
    503: "Service unavailable.",
}


def error_body(status_code: int, message: str, *, code: str | None = None, details: dict | None = None) -> dict:
    return {
        "success": False,
        "error": {
            "code": code or _STATUS_CODES.get(status_code, "ERROR"),
            "message": message,
            "details": details or {},
            "timestamp": timezone.now().isoformat(),
            "request_id": current_request_id(),
        },
    }


def error_json_response(
    status_code: int,
    message: str | None = None,
    *,
    code: str | None = None,
    details: dict | None = None,
    headers: dict | None = None,
) -> HttpResponse:
    """The envelope for responses made outside DRF (middleware, Django handlers)."""
    body = error_body(status_code, message or _MESSAGES.get(status_code, "Error."), code=code, details=details)
    response = HttpResponse(dumps(body), status=status_code, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _first_message(detail) -> str:
    """A human sentence from DRF's nested detail: the first field error, named."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def _details(detail) -> dict:
    if isinstance(detail, dict):
        return _plain(detail)
    if isinstance(detail, list):
        return {"errors": _plain(detail)}
    return {}


def _plain(detail):
    if isinstance(detail, dict):
        return {key: _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(item) for item in detail]
    return str(detail)


def exception_handler(exc, context):
    """DRF's exception handler, answering every error with the envelope."""
    if isinstance(exc, domain.ApplicationError):
        exc = _from_domain(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, OperationalError) and "database is locked" in str(exc):
        # SQLite's write lock still taken past its busy timeout: overload, not an outage.
        logger.warning("database busy: %s", exc)
        exc = Busy()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        # A dropped or unreachable database: a clean 503 the client may retry.
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        exc = ServiceUnavailable("The database is unavailable; try again shortly.", code="DATABASE_UNAVAILABLE")
    elif _is_redis_error(exc):
        logger.warning("redis unavailable: %s", exc.__class__.__name__)
        exc = ServiceUnavailable("The cache is unavailable; try again shortly.", code="CACHE_UNAVAILABLE")

    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: ApiErrorMiddleware logs it and answers a 500 envelope

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait) + (0 if float(exc.wait).is_integer() else 1))
    headers.update(getattr(exc, "headers", {}) or {})

    if isinstance(exc, ApiError):
        code, message, details = exc.error_code, str(exc.detail), exc.details
    else:
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), None)
        code = code or _STATUS_CODES.get(exc.status_code, "ERROR")
        message, details = _first_message(exc.detail), _details(exc.detail)
        if isinstance(exc, exceptions.Throttled):
            message = f"Too many requests; retry in {headers.get('Retry-After', 'a few')} seconds."
            details = {"retry_after": int(headers["Retry-After"])} if "Retry-After" in headers else {}
        elif isinstance(exc, exceptions.AuthenticationFailed) and isinstance(exc.detail, dict):
            message = str(exc.detail.get("detail", "Authentication failed."))
            details = {}

    return Response(
        error_body(exc.status_code, message, code=code, details=details), status=exc.status_code, headers=headers
    )


def _is_redis_error(exc: BaseException) -> bool:
    try:
        import redis.exceptions
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError))
