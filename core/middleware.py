"""Request-level conventions: request ids, metrics, body limits, error envelopes."""

from __future__ import annotations

import io
import logging
import re
import time
import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core import metrics
from core.client_ip import client_ip
from core.context import RequestContext, enter_request, leave_request, request_id_var
from core.envelope import error_json_response

logger = logging.getLogger("botfleet.api")

_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or request.path == "/status"


class RequestIdMiddleware:
    """Every response carries ``X-Request-ID``; every log line of the request has it.

    A well-formed incoming id (from a proxy or the client) is kept so one request can
    be followed across services; anything else is replaced.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        # Not reset afterwards: Django logs the response ("django.request") after the
        # middleware chain returns, and that line must carry the id too. Each request
        # sets its own value (threads and ASGI tasks have their own context).
        request_id_var.set(request_id)
        request.request_id = request_id
        # The origin the audit trail records, for services that are never handed the request.
        # Reset afterwards (unlike the id): a WSGI thread must not lend one request's client
        # to work it does later outside any request.
        token = enter_request(
            RequestContext(
                request_id=request_id,
                client_ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:256],
            )
        )
        try:
            response = self.get_response(request)
        finally:
            leave_request(token)
        response["X-Request-ID"] = request_id
        return response


class MetricsMiddleware:
    """Prometheus request counts and latencies by view name, method and status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match.url_name or "unnamed") if match else "<unresolved>"
        metrics.observe_request(view, request.method, response.status_code, time.perf_counter() - started)
        return response


def _has_nul(request: HttpRequest) -> bool:
    query = request.META.get("QUERY_STRING", "")
    return "\x00" in request.path or "%00" in query or "\x00" in query


class BodySizeLimitMiddleware:
    """413 for bodies over ``MAX_REQUEST_BODY_BYTES`` before any parser reads them (and a
    400 for a NUL in the path or the query string, which no view could use).

    DRF's JSON parser streams the body and never consults
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``, so the limit is enforced here, on the declared
    length; a chunked body without a length is capped by reading one byte past it
    (under WSGI only when the server marks ``wsgi.input_terminated``, as gunicorn does).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            # PostgreSQL refuses a NUL in any string it is sent: a filter or a path segment
            # holding one would fail (500) at the first query that uses it.
            return error_json_response(
                400, "The path and query parameters may not contain the NUL character (%00).", code="BAD_REQUEST"
            )
        limit = settings.MAX_REQUEST_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_json_response(400, "Content-Length is not a number.", code="BAD_REQUEST")
        if declared > limit:
            return self._too_large(limit)
        if not declared and request.META.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            body = self._read_chunked(request, limit)
            if len(body) > limit:
                return self._too_large(limit)
            # Hand the buffered body on with a length: Django's WSGI request and DRF
            # both treat a body without Content-Length as empty.
            request._body = body
            request._stream = io.BytesIO(body)
            request._read_started = False
            request.META["CONTENT_LENGTH"] = str(len(body))
        return self.get_response(request)

    @staticmethod
    def _read_chunked(request: HttpRequest, limit: int) -> bytes:
        environ = getattr(request, "environ", None) or {}
        if environ.get("wsgi.input_terminated"):
            # The WSGI server de-chunked the body and marks where it ends; Django's own
            # stream would read nothing without a Content-Length.
            return environ["wsgi.input"].read(limit + 1)
        return request.read(limit + 1)  # ASGI: the whole body is in the request's file

    @staticmethod
    def _too_large(limit: int) -> HttpResponse:
        return error_json_response(
            413,
            f"Request body too large; the limit is {limit} bytes.",
            code="PAYLOAD_TOO_LARGE",
            details={"max_bytes": limit},
        )


class ApiErrorMiddleware:
    """The error envelope for what DRF does not handle under ``/api/``.

    Django's own 404 (no route), 405 and anything raised outside a DRF view become
    the same JSON envelope; a crash is logged with its request id and answered with a
    500 that carries no trace.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            is_api_request(request)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
            and not getattr(response, "streaming", False)
        ):
            return error_json_response(response.status_code, headers=_carried_headers(response))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        from core.envelope import exception_handler

        handled = exception_handler(exception, {"request": request})
        if handled is not None:
            body = handled.data
            response = error_json_response(
                handled.status_code,
                body["error"]["message"],
                code=body["error"]["code"],
                details=body["error"]["details"],
            )
            for name, value in handled.items():
                response[name] = value
            return response
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_json_response(500, "Internal server error.", code="INTERNAL_ERROR")


def _carried_headers(response: HttpResponse) -> dict:
    return {name: response[name] for name in ("Allow", "Retry-After", "WWW-Authenticate") if response.has_header(name)}
