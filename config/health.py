"""Liveness, readiness, version and metrics endpoints, plus Django's error handlers.

``ready`` checks every dependency concurrently with a hard deadline, so a hung
database or Redis makes it answer 503 naming the culprit within 2 s instead of
hanging the probe (and whoever waits on it). It checks what the product needs to do
its job, not only that sockets answer: the database by reading a real table, the
event relay by its lease and backlog, the engine by whether due bots are ticked.
"""

from __future__ import annotations

import platform
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import django
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import JWTAuthentication
from accounts.ops import IsStaffOrOpsToken, OpsTokenAuthentication
from core import metrics
from core.envelope import error_json_response
from core.flags import feature_flags
from core.middleware import is_api_request
from core.schema import ErrorSerializer

READY_DEADLINE_SECONDS = 1.8
# Checks run on their own threads so a hang cannot hold the request; a check that
# hangs keeps its thread until its own socket timeout, hence a small fixed pool.
_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ready-check")


# An unpublished event older than this means the relay holds its lease but is not publishing.
RELAY_BACKLOG_SECONDS = 30.0


def _check_database() -> None:
    try:
        with connections["default"].cursor() as cursor:
            # A real table, not "SELECT 1": SQLite answers that even when its database file
            # is gone (it opens a new, empty one), while every API call fails.
            cursor.execute("SELECT 1 FROM django_migrations LIMIT 1")
            if cursor.fetchone() is None:
                raise RuntimeError("the database has no migrations applied")
    finally:
        connections.close_all()  # the check runs on a pool thread: do not leak its connection


def _check_relay() -> None:
    """A relay holds the lease (it renews it every few seconds, idle or not) and the
    oldest unpublished event is recent: live events reach the streams."""
    from django.db.models import Min
    from django.utils import timezone

    from realtime.models import Event, RelayState

    try:
        now = timezone.now()
        state = RelayState.objects.filter(pk=RelayState.SINGLETON_ID).first()
        if state is None or not state.holder or state.lease_until is None or state.lease_until <= now:
            seen = state.heartbeat_at.isoformat() if state is not None and state.heartbeat_at else "never"
            raise RuntimeError(f"no relay holds the lease (last heartbeat: {seen})")
        oldest = Event.objects.filter(published_at__isnull=True).aggregate(oldest=Min("created_at"))["oldest"]
        if oldest is not None and (now - oldest).total_seconds() > RELAY_BACKLOG_SECONDS:
            raise RuntimeError(f"events wait unpublished for {(now - oldest).total_seconds():.0f}s")
    finally:
        connections.close_all()


def _check_engine() -> None:
    """Running bots are ticked: none is overdue by more than a lease and a few dispatches
    (a worker may beat its heartbeat while its pool is wedged)."""
    from django.utils import timezone

    from bots.selectors import overdue_bots_count, overdue_grace

    try:
        overdue = overdue_bots_count(now=timezone.now())
        if overdue:
            raise RuntimeError(
                f"{overdue} running bot(s) not ticked for over {overdue_grace().total_seconds():g}s past due"
            )
    finally:
        connections.close_all()


def _check_cache() -> None:
    key = f"ready:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", 10)
        if cache.get(key) != "1":
            raise RuntimeError("cache did not return what was written")
        cache.delete(key)
    finally:
        connections.close_all()


def _check_channel_layer() -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def roundtrip() -> None:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "ready.check"})
        await layer.receive(channel)

    async_to_sync(roundtrip)()


def _check_broker() -> None:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"])
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".ready-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
        return
    from config.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=READY_DEADLINE_SECONDS)


CHECKS = {
    "database": _check_database,
    "cache": _check_cache,
    "channel_layer": _check_channel_layer,
    "broker": _check_broker,
    "relay": _check_relay,
    "engine": _check_engine,
}


def run_readiness_checks(deadline: float = READY_DEADLINE_SECONDS) -> dict[str, dict]:
    started = time.perf_counter()
    futures = {name: _executor.submit(check) for name, check in CHECKS.items()}
    wait(futures.values(), timeout=deadline)
    results = {}
    for name, future in futures.items():
        if not future.done():
            results[name] = {"ok": False, "error": f"no answer within {deadline:g}s"}
        elif future.exception() is not None:
            exc = future.exception()
            results[name] = {"ok": False, "error": f"{exc.__class__.__name__}: {str(exc)[:200]}"}
        else:
            results[name] = {"ok": True}
    results["_elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return results


class _OpsView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []


class _PrivateOpsView(_OpsView):
    """Staff (a bearer JWT) or a monitor with ``OPS_TOKEN``: what runs, and how busy, is not public."""

    authentication_classes = [OpsTokenAuthentication, JWTAuthentication]
    permission_classes = [IsStaffOrOpsToken]


class HealthView(_OpsView):
    @extend_schema(
        tags=["ops"],
        responses={
            200: inline_serializer("Health", {"success": serializers.BooleanField(), "status": serializers.CharField()})
        },
    )
    def get(self, request):
        return Response({"success": True, "status": "ok"})


class ReadyView(_OpsView):
    @extend_schema(
        tags=["ops"],
        responses={
            200: inline_serializer("Ready", {"success": serializers.BooleanField(), "checks": serializers.DictField()}),
            503: OpenApiResponse(ErrorSerializer, description="Error envelope naming what is down in details.down"),
        },
    )
    def get(self, request):
        results = run_readiness_checks()
        elapsed = results.pop("_elapsed_ms")
        down = sorted(name for name, result in results.items() if not result["ok"])
        if down:
            return error_json_response(
                503,
                f"Not ready: {', '.join(down)} down.",
                code="NOT_READY",
                details={"down": down, "checks": results, "elapsed_ms": elapsed},
            )
        return Response({"success": True, "checks": results, "elapsed_ms": elapsed})


class VersionView(_PrivateOpsView):
    @extend_schema(
        tags=["ops"],
        description="Staff or `Authorization: Bearer <OPS_TOKEN>` only.",
        responses={
            200: inline_serializer(
                "Version",
                {
                    "success": serializers.BooleanField(),
                    "version": serializers.CharField(),
                    "python": serializers.CharField(),
                    "django": serializers.CharField(),
                    "mode": serializers.CharField(),
                    "feature_flags": serializers.DictField(),
                },
            )
        },
    )
    def get(self, request):
        return Response(
            {
                "success": True,
                "version": settings.VERSION,
                "python": platform.python_version(),
                "django": django.get_version(),
                "mode": "embedded" if settings.EMBEDDED else "production",
                "feature_flags": feature_flags(),
            }
        )


class MetricsView(_PrivateOpsView):
    @extend_schema(
        tags=["ops"],
        description="Staff or `Authorization: Bearer <OPS_TOKEN>` only (Prometheus: `authorization.credentials`).",
        responses={(200, "text/plain"): OpenApiResponse(description="Prometheus text")},
    )
    def get(self, request):
        body, content_type = metrics.exposition()
        return HttpResponse(body, content_type=content_type)


def not_found(request, exception=None):
    """The envelope under /api/; Django's own page elsewhere (the admin)."""
    if not is_api_request(request):
        return defaults.page_not_found(request, exception)
    return error_json_response(404, "Not found.", code="NOT_FOUND")


def bad_request(request, exception=None):
    """A request Django refuses before any view (a Host not in ALLOWED_HOSTS): the envelope under /api/."""
    if not is_api_request(request):
        return defaults.bad_request(request, exception)
    return error_json_response(400, "Bad request.", code="BAD_REQUEST")


def server_error(request):
    if not is_api_request(request):
        return defaults.server_error(request)
    return error_json_response(500, "Internal server error.", code="INTERNAL_ERROR")


def bench_bare(request):
    """The yardstick of bench/http_load.py: a plain Django JSON view (BOTFLEET_BENCH_ROUTES=1 only)."""
    return JsonResponse({"success": True, "status": "ok"})
