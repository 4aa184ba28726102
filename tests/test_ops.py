"""Operations: health, ready, version, metrics; deploy checks; the OpenAPI schema."""

from __future__ import annotations

import os
import platform
import secrets
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import django
import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.test import override_settings
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from prometheus_client import REGISTRY

from tests.envelope import assert_error

pytestmark = pytest.mark.django_db
BASE_DIR = Path(settings.BASE_DIR)


def test_health_answers_ok(client):
    response = client.get("/api/health")

    assert response.status_code == 200
    assert response.json() == {"success": True, "status": "ok"}


READY_CHECKS = ("database", "cache", "channel_layer", "broker", "relay", "engine")


# The checks run on their own threads (their own connections): what a test writes must be
# committed for them to see it.
committed = pytest.mark.django_db(transaction=True)


@pytest.fixture
def relay_running():
    """What a live relay keeps in the table: its lease (renewed every few seconds)."""
    from django.utils import timezone

    from realtime.models import RelayState

    RelayState.objects.update_or_create(
        pk=RelayState.SINGLETON_ID,
        defaults={"holder": "relay@test", "lease_until": timezone.now() + timedelta(seconds=30)},
    )


@committed
def test_ready_answers_200_when_every_dependency_answers(client, relay_running):
    response = client.get("/api/ready")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["checks"] == {name: {"ok": True} for name in READY_CHECKS}


@committed
def test_ready_names_a_dead_relay(client):
    from django.utils import timezone

    from realtime.models import RelayState

    seen = timezone.now() - timedelta(seconds=40)
    RelayState.objects.update_or_create(
        pk=RelayState.SINGLETON_ID,
        defaults={"holder": "relay@gone", "lease_until": seen + timedelta(seconds=10), "heartbeat_at": seen},
    )

    error = assert_error(client.get("/api/ready"), 503, "NOT_READY")

    assert error["details"]["down"] == ["relay"]
    assert error["details"]["checks"]["relay"] == {
        "ok": False,
        "error": f"RuntimeError: no relay holds the lease (last heartbeat: {seen.isoformat()})",
    }


@committed
def test_ready_names_an_engine_whose_running_bots_are_overdue(client, relay_running, owner, settings):
    from django.utils import timezone

    from tests.bots.factories import BotFactory

    settings.ENGINE_LEASE_SECONDS, settings.ENGINE_DISPATCH_SECONDS = 60, 5
    BotFactory(owner=owner, status="running", next_tick_at=timezone.now() - timedelta(seconds=120))

    error = assert_error(client.get("/api/ready"), 503, "NOT_READY")

    assert error["details"]["down"] == ["engine"]
    assert error["details"]["checks"]["engine"] == {
        "ok": False,
        "error": "RuntimeError: 1 running bot(s) not ticked for over 75s past due",
    }


class HangingServer:
    """A local TCP server that accepts connections and never says a word."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:  # the hung check's socket now fails and its thread ends
            conn.close()


@committed
def test_ready_answers_503_naming_a_hung_cache_without_waiting_for_it(client, relay_running):
    server = HangingServer()
    hung_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{server.port}/0",
            "OPTIONS": {"socket_timeout": 30, "socket_connect_timeout": 30},
        }
    }
    try:
        with override_settings(CACHES=hung_cache):
            response = client.get("/api/ready")
    finally:
        server.close()

    error = assert_error(response, 503, "NOT_READY")
    assert error["message"] == "Not ready: cache down."
    assert error["details"]["down"] == ["cache"]
    assert error["details"]["checks"]["cache"] == {"ok": False, "error": "no answer within 1.8s"}
    assert error["details"]["checks"]["database"] == {"ok": True}
    assert server.accepted, "the cache check never reached the hanging server"


@committed
def test_ready_names_a_refused_dependency(client, relay_running):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    refused = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0"}
    }
    with override_settings(CACHES=refused):
        response = client.get("/api/ready")

    error = assert_error(response, 503, "NOT_READY")
    assert error["details"]["down"] == ["cache"]
    assert error["details"]["checks"]["cache"]["error"].startswith("ConnectionError")


def test_version(staff_client):
    body = staff_client.get("/api/version").json()

    assert body == {
        "success": True,
        "version": settings.VERSION,
        "python": platform.python_version(),
        "django": django.get_version(),
        "mode": "production" if settings.DATABASE_URL else "embedded",
        "feature_flags": body["feature_flags"],
    }
    assert body["feature_flags"]["trading"] is False


def _count(view, status, method="GET"):
    labels = {"view": view, "method": method, "status": status}
    return REGISTRY.get_sample_value("botfleet_http_requests_total", labels) or 0.0


def test_metrics_count_requests_by_view_and_status(client, owner_client, staff_client):
    before = (_count("accounts:me", "200"), _count("accounts:me", "401"), _count("<unresolved>", "404"))

    for _ in range(3):
        owner_client.get("/api/auth/me")
    client.get("/api/auth/me")
    client.get("/api/nowhere")
    response = staff_client.get("/api/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    after = (_count("accounts:me", "200"), _count("accounts:me", "401"), _count("<unresolved>", "404"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 1, 1]
    text = response.content.decode()
    assert f'botfleet_http_requests_total{{method="GET",status="200",view="accounts:me"}} {after[0]}' in text
    assert 'botfleet_http_request_duration_seconds_bucket{le="0.005",method="GET",view="accounts:me"}' in text


# ---------------------------------------------------------------------------
# Production settings, in a subprocess with a production environment
# ---------------------------------------------------------------------------
def _production_env(tmp_path, **changes) -> dict:
    # Only what a process needs to run: every setting comes from below, not from the
    # environment the suite itself runs in (CI's services pass sets several).
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if key in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL="postgres://botfleet:unused@127.0.0.1:5432/botfleet_deploy_check",
        REDIS_URL="redis://127.0.0.1:6379/15",
        SECRET_KEY=secrets.token_urlsafe(50),
        FERNET_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="botfleet.example.com",
        BOTFLEET_LOCAL_SECRETS="0",
        BOTFLEET_DATA_DIR=str(tmp_path / "data"),
    )
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _manage(_production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr[-3000:]
    # One, and only this one: axes looks for its middleware by name, and ours is its
    # subclass with the async path fixed (accounts/lockout.py).
    assert "System check identified no issues (1 silenced)." in result.stdout
    assert settings.SILENCED_SYSTEM_CHECKS == ["axes.W002"]
    # Production never makes up its own secrets.
    assert not (tmp_path / "data" / "secret_key").exists()
    assert not (tmp_path / "data" / "fernet.key").exists()


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FERNET_KEYS"])
def test_production_refuses_to_start_without_its_secrets(tmp_path, missing):
    env = _production_env(tmp_path, **{missing: None})

    result = _manage(env, "check")

    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr
    for secret in (env.get("SECRET_KEY"), env.get("FERNET_KEYS")):
        assert not secret or secret not in result.stderr + result.stdout


# ---------------------------------------------------------------------------
# OpenAPI
# ---------------------------------------------------------------------------
def _accounts_and_ops_patterns():
    from config import urls

    ops = {"health", "ready", "version", "metrics"}
    kept = [
        p
        for p in urls.api_patterns
        if (isinstance(p, URLResolver) and getattr(p.urlconf_module, "__name__", "") == "accounts.urls")
        or (isinstance(p, URLPattern) and p.name in ops)
    ]
    return [path("api/", include(kept))]


def test_the_accounts_and_ops_schema_generates_valid_without_warnings():
    GENERATOR_STATS.reset()

    schema = SchemaGenerator(patterns=_accounts_and_ops_patterns()).get_schema(request=None, public=True)

    warnings = dict(GENERATOR_STATS._warn_cache) | dict(GENERATOR_STATS._error_cache)
    assert warnings == {}
    validate_schema(schema)
    assert set(schema["paths"]) == {
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/auth/profile",
        "/api/auth/change-password",
        "/api/auth/send-otp",
        "/api/auth/verify-otp",
        "/api/auth/password-reset",
        "/api/auth/password-reset/confirm",
        "/api/auth/2fa",
        "/api/auth/2fa/setup",
        "/api/auth/2fa/enable",
        "/api/auth/2fa/disable",
        "/api/auth/2fa/verify",
        "/api/auth/tokens",
        "/api/auth/tokens/{token_id}",
        "/api/auth/sessions",
        "/api/auth/sessions/{session_id}",
        "/api/auth/me/export",
        "/api/health",
        "/api/ready",
        "/api/version",
        "/api/metrics",
    }


def test_every_error_response_is_documented_as_the_envelope():
    schema = SchemaGenerator(patterns=_accounts_and_ops_patterns()).get_schema(request=None, public=True)

    documented = {}
    for route, operations in schema["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            documented[(method.upper(), route)] = statuses
            for status in statuses - {"200", "201"}:
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (method, route, status)
    assert {"400", "401", "403", "413", "415", "429"} <= documented[("POST", "/api/auth/login")]
    assert "409" in documented[("POST", "/api/auth/register")]
    assert {"401", "409"} <= documented[("PATCH", "/api/auth/me")]
    assert "409" not in documented[("GET", "/api/auth/me")]
    # An unknown account is answered like a known one: no 404 to tell them apart.
    assert "404" not in documented[("POST", "/api/auth/verify-otp")] | documented[("POST", "/api/auth/send-otp")]
    assert {"401", "403"} <= documented[("GET", "/api/metrics")] & documented[("GET", "/api/version")]
    assert "503" in documented[("GET", "/api/ready")]
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"success", "error"}


def test_the_schema_endpoint_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")
    redoc = client.get("/api/redoc/")

    assert schema.status_code == 200
    assert b"/api/auth/login" in schema.content
    assert (docs.status_code, redoc.status_code) == (200, 200)
