"""API conventions (API.md): the error envelope everywhere, body rules, request ids."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
from django.contrib.auth import get_user_model
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpResponse
from django.urls import include, path
from rest_framework.views import APIView

from core.logging import JsonFormatter, RequestIdFilter
from tests.envelope import assert_error

User = get_user_model()
LIMIT = 1_048_576


# A test-only URLconf: the real one plus views that crash, for the 500 envelope.
def _crash(request):
    raise RuntimeError("secret-ish internal detail")


class _CrashView(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        raise ValueError("another internal detail")


def _plain_error(request):
    return HttpResponse("<h1>teapot</h1>", status=418, content_type="text/html")


urlpatterns = [
    path("api/_test/crash", _crash),
    path("api/_test/drf-crash", _CrashView.as_view()),
    path("api/_test/plain-error", _plain_error),
    path("", include("config.urls")),
]
handler404 = "config.health.not_found"
handler500 = "config.health.server_error"


# ---------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"email": ', "JSON parse error"),
        (b"\xff\xfe{}", "JSON parse error"),
    ],
)
def test_a_malformed_json_body_is_a_400_that_says_what_is_wrong(api, body, message):
    response = api.post("/api/auth/login", body, content_type="application/json")

    error = assert_error(response, 400, "PARSE_ERROR")
    assert message in error["message"]


@pytest.mark.django_db
def test_a_json_body_that_is_not_an_object_is_a_validation_error(api):
    response = api.post("/api/auth/register", "[1, 2]", content_type="application/json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "Invalid data. Expected a dictionary, but got list."
    assert User.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/octet-stream"])
def test_another_content_type_is_a_415(api, content_type):
    response = api.post("/api/auth/register", "<a/>", content_type=content_type)

    error = assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert content_type in error["message"]
    assert User.objects.count() == 0


@pytest.mark.django_db
def test_a_body_over_the_limit_is_a_413_before_anything_reads_it(api):
    big = '{"email": "big@example.com", "password": "a-long-passphrase-1", "pad": "' + "x" * LIMIT + '"}'

    response = api.post("/api/auth/register", big, content_type="application/json")

    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"] == {"max_bytes": LIMIT}
    assert User.objects.count() == 0


def test_a_content_length_that_is_not_a_number_is_a_400(api):
    response = api.generic("POST", "/api/auth/login", b"{}", content_type="application/json", CONTENT_LENGTH="ten")

    assert_error(response, 400, "BAD_REQUEST")


def _chunked(api, body: bytes):
    """POST as a WSGI server delivers a de-chunked body: no Content-Length, input terminated."""
    return api.generic(
        "POST",
        "/api/auth/register",
        content_type="application/json",
        CONTENT_LENGTH="",
        CONTENT_TYPE="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
    )


@pytest.mark.django_db
def test_a_chunked_body_over_the_limit_is_a_413(api):
    response = _chunked(api, b'{"email": "big@example.com", "pad": "' + b"x" * LIMIT + b'"}')

    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert User.objects.count() == 0


@pytest.mark.django_db
def test_a_small_chunked_body_is_read_normally(api):
    response = _chunked(api, b'{"email": "chunk@example.com", "password": "a-long-passphrase-1"}')

    assert response.status_code == 201, response.content
    assert User.objects.filter(email="chunk@example.com").exists()


async def test_a_chunked_body_over_the_limit_is_a_413_under_asgi():
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/auth/register",
        "raw_path": b"/api/auth/register",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    chunks = [b"x" * 65536] * (LIMIT // 65536 + 1)
    incoming = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    incoming.append({"type": "http.request", "body": b"", "more_body": False})
    sent = []

    async def receive():
        if incoming:
            return incoming.pop(0)
        await asyncio.Future()  # the client stays connected until the handler is done

    async def send(message):
        sent.append(message)

    await ASGIHandler()(scope, receive, send)

    start = sent[0]
    assert start["status"] == 413
    headers = dict(start["headers"])
    assert headers[b"Content-Type"].startswith(b"application/json")
    assert b'"PAYLOAD_TOO_LARGE"' in b"".join(m.get("body", b"") for m in sent[1:])
    assert headers[b"X-Request-ID"]


# ---------------------------------------------------------------------------
# Success bodies (DRF's Response with {"success": true, ...})
# ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_success_body_is_json_with_the_views_allow_header(owner_api):
    response = owner_api.get("/api/auth/me")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "GET, PATCH, DELETE, HEAD, OPTIONS"
    body = response.json()
    assert body["success"] is True and body["user"]["email"] == owner_api.user.email


@pytest.mark.django_db
def test_a_list_body_keeps_its_links_and_the_views_own_fields(staff_api):
    response = staff_api.get("/api/admin/resources/users?page_size=1")

    assert response.status_code == 200
    body = response.json()
    assert {"success", "users", "total", "next", "previous", "sort", "system_totals"} <= set(body)


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*"])
def test_the_body_is_json_whatever_the_client_accepts(owner_api, accept):
    # One renderer: like an error body, a success body is JSON (core/negotiation.py).
    response = owner_api.get("/api/auth/me", HTTP_ACCEPT=accept)

    assert (response.status_code, response["Content-Type"]) == (200, "application/json")


# ---------------------------------------------------------------------------
# The envelope for Django's own errors and crashes
# ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_unknown_api_path_is_a_404_envelope(api):
    error = assert_error(api.get("/api/no/such/thing"), 404, "NOT_FOUND")
    assert error["message"] == "Not found."


@pytest.mark.django_db
def test_outside_the_api_a_404_is_not_json(api):
    response = api.get("/no/such/page")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
    assert response["X-Request-ID"]


@pytest.mark.django_db
def test_a_wrong_method_is_a_405_envelope_with_allow(api):
    response = api.get("/api/auth/login")

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response["Allow"]


@pytest.mark.urls("tests.test_conventions")
@pytest.mark.parametrize("path", ["/api/_test/crash", "/api/_test/drf-crash"])
def test_a_crash_is_a_500_envelope_without_a_trace_and_is_logged_with_the_request_id(api, path):
    records = []
    log_handler = logging.Handler()
    log_handler.addFilter(RequestIdFilter())
    log_handler.emit = records.append
    logger = logging.getLogger("botfleet.api")
    logger.addHandler(log_handler)
    try:
        response = api.get(path)
    finally:
        logger.removeHandler(log_handler)

    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert error["message"] == "Internal server error."
    assert error["details"] == {}
    assert b"internal detail" not in response.content
    assert [r.request_id for r in records] == [response["X-Request-ID"]]
    assert records[0].exc_info is not None


@pytest.mark.urls("tests.test_conventions")
def test_a_non_json_error_under_the_api_becomes_the_envelope(api):
    assert_error(api.get("/api/_test/plain-error"), 418, "ERROR")


# ---------------------------------------------------------------------------
# Throttles
# ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_throttled_request_is_a_429_envelope_with_retry_after(api):
    # The "otp" scope allows 5 a minute per client IP, whatever the outcome.
    for n in range(5):
        assert api.post("/api/auth/send-otp", {"identifier": f"x{n}@example.com"}).status_code == 200

    response = api.post("/api/auth/send-otp", {"identifier": "x@example.com"})

    error = assert_error(response, 429, "RATE_LIMITED")
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= 60
    assert error["details"] == {"retry_after": retry_after}
    assert error["message"] == f"Too many requests; retry in {retry_after} seconds."
    # another client is not affected
    assert api.post("/api/auth/send-otp", {"identifier": "x@example.com"}, REMOTE_ADDR="10.7.7.7").status_code == 200


# ---------------------------------------------------------------------------
# Request ids and logs
# ---------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.urls("tests.test_conventions")
def test_every_response_has_a_request_id(api, owner_api):
    responses = [
        owner_api.get("/api/auth/me"),
        api.get("/api/health"),
        api.get("/api/auth/me"),
        api.get("/api/nowhere"),
        api.get("/api/auth/login"),
        api.post("/api/auth/login", "x", content_type="text/plain"),
        api.post("/api/auth/login", "{", content_type="application/json"),
        api.post("/api/auth/login", "x" * (LIMIT + 1), content_type="application/json"),
        api.get("/api/_test/crash"),
        api.get("/admin/login/"),
    ]

    ids = [r["X-Request-ID"] for r in responses]
    assert [r.status_code for r in responses] == [200, 200, 401, 404, 405, 415, 400, 413, 500, 200]
    assert all(len(i) == 32 for i in ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.django_db
def test_a_well_formed_incoming_request_id_is_kept_and_a_bad_one_replaced(api):
    kept = api.get("/api/nowhere", HTTP_X_REQUEST_ID="trace-abc.123_XYZ")
    replaced = api.get("/api/health", HTTP_X_REQUEST_ID="bad id\nwith newline")

    assert kept["X-Request-ID"] == "trace-abc.123_XYZ"
    assert kept.json()["error"]["request_id"] == "trace-abc.123_XYZ"
    assert replaced["X-Request-ID"] != "bad id\nwith newline"
    assert len(replaced["X-Request-ID"]) == 32


def test_json_log_lines_carry_the_request_id():
    record = logging.LogRecord("botfleet.api", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    record.request_id = "req-12345678"

    import orjson

    line = orjson.loads(JsonFormatter().format(record))

    assert line["message"] == "hello world"
    assert line["request_id"] == "req-12345678"
    assert (line["level"], line["logger"]) == ("WARNING", "botfleet.api")
    assert line["time"].endswith("+00:00")


# ---------------------------------------------------------------------------
# Throttle counters (core.throttles)
# ---------------------------------------------------------------------------
def test_a_generous_limit_is_claimed_in_blocks_and_never_exceeded_across_processes():
    from django.core.cache import cache

    from core.throttles import _Blocks

    # Given two processes (each with its own claimed blocks) sharing one counter
    first, second = _Blocks(), _Blocks()
    limit, block = 1000, 10

    # When they serve a client in turns until both refuse
    allowed = 0
    for n in range(1500):
        blocks = first if n % 2 else second
        allowed += blocks.take(cache, "throttle_user_7:42", 42, block, limit, 61)

    # Then no more than the limit got through, and at most a block short of it
    assert limit - (block - 1) * 2 <= allowed <= limit
    assert cache.get("throttle_user_7:42") >= limit


def test_a_tight_limit_is_exact():
    from django.core.cache import cache

    from core.throttles import _Blocks

    first, second = _Blocks(), _Blocks()

    results = [(first if n % 2 else second).take(cache, "throttle_otp:1", 1, 1, 5, 61) for n in range(8)]

    assert results == [True] * 5 + [False] * 3


# ---------------------------------------------------------------------------
# Domain errors worded as DRF worded the same refusal
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "errors",
    [
        {"password": ["Too short.", "Too common."]},
        {"non_field_errors": ["The body must be a JSON object."]},
        {"provider": ["Unknown provider."], "providers": ["binance", "kraken"]},
    ],
)
def test_a_field_refusal_has_the_envelope_a_serializer_error_had(errors):
    from rest_framework.exceptions import ValidationError

    from core.envelope import exception_handler
    from core.errors import Invalid

    def error_of(exc) -> tuple:
        response = exception_handler(exc, {})
        body = response.data["error"]
        return response.status_code, body["code"], body["message"], body["details"]

    assert error_of(Invalid.for_fields(errors)) == error_of(ValidationError(errors))
