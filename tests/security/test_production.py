"""Production settings are strict: run in a subprocess with a production environment
(a DATABASE_URL, no local secrets), nothing of the test settings leaking in.

No database or Redis is reached: the probes use answers that need neither, and the
service URLs point at a closed port so a probe that touched them would fail loudly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from tests.fakes.fixtures import closed_port_url

HOST = "api.example.com"
APP_ORIGIN = "https://app.example.com"

PROBE = textwrap.dedent(
    """
    import json, os, django
    django.setup()
    host, origin = os.environ["ALLOWED_HOSTS"], os.environ["CORS_ALLOWED_ORIGINS"]
    from django.test import Client
    client = Client()
    out = []
    def probe(method, path, host, **headers):
        response = client.generic(method, path, HTTP_HOST=host, secure=True, **headers)
        out.append({"method": method, "path": path, "host": host, "status": response.status_code,
                    "headers": {k.lower(): v for k, v in response.items()},
                    "body": response.content.decode("utf-8", "replace")[:300]})
    for name in ("evil.example", "api.example.com.evil.example", host):
        for path in ("/api/health", "/api/auth/me", "/api/version", "/admin/login/"):
            probe("GET", path, name, HTTP_ORIGIN="https://evil.example")
    probe("OPTIONS", "/api/bots", host, HTTP_ORIGIN="https://evil.example",
          HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    probe("GET", "/api/health", host, HTTP_ORIGIN=origin)
    print(json.dumps(out))
    """
)


def production_env() -> dict[str, str]:
    closed = closed_port_url().replace("http://", "")
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "VIRTUAL_ENV"}}
    return {
        **keep,
        "PYTHONPATH": str(settings.BASE_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://nobody@{closed}/none",
        "REDIS_URL": f"redis://{closed}/0",
        "SECRET_KEY": Fernet.generate_key().decode() * 2,
        "FERNET_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": HOST,
        "CORS_ALLOWED_ORIGINS": APP_ORIGIN,
        "BOTFLEET_DATA_DIR": "/tmp/botfleet-prod-probe-unused",
    }


@pytest.fixture(scope="module")
def probes() -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=production_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_its_secrets():
    env = production_env()
    del env["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_a_foreign_host_is_a_400(probes):
    foreign = [p for p in probes if p["host"] != HOST]
    assert len(foreign) == 8
    for probe in foreign:
        assert probe["status"] == 400, probe
        assert "evil" not in probe["body"]
    api = [p for p in foreign if p["path"].startswith("/api/")]
    for probe in api:  # still the envelope under /api/
        assert json.loads(probe["body"])["error"]["code"] == "BAD_REQUEST"


def test_the_allowed_host_is_served_with_the_security_headers(probes):
    served = [p for p in probes if p["host"] == HOST and p["method"] == "GET"]
    # health, auth/me, version (staff or OPS_TOKEN only), admin/login/, health from the app's origin
    assert [p["status"] for p in served] == [200, 401, 401, 200, 200]
    for probe in served:
        headers = probe["headers"]
        assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload", probe
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-request-id"]


def test_no_origin_is_granted_cross_origin_access(probes):
    # The API is served to its own origin only: no Access-Control-Allow-* for anyone,
    # a foreign origin (on a GET or a preflight) least of all.
    for probe in probes:
        assert not [h for h in probe["headers"] if h.startswith("access-control-")], probe


def test_production_defaults_are_strict():
    code = (
        "import json; from django.conf import settings as s; print(json.dumps([s.DEBUG, s.ALLOWED_HOSTS,"
        " s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.TRUSTED_PROXY_COUNT,"
        " s.CORS_ALLOWED_ORIGINS]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [False, [HOST], True, True, True, 0, [APP_ORIGIN]]
