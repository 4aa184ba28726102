"""What runs and how busy it is: metrics, version and status detail for staff or a monitor's token."""

from __future__ import annotations

import pytest
from django.utils import timezone

from bots.models import WorkerHeartbeat
from tests.asgi import client_for
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db

OPS_TOKEN = "ops-" + "7" * 40


@pytest.fixture(autouse=True)
def _ops_token(settings):
    settings.OPS_TOKEN = OPS_TOKEN


@pytest.mark.parametrize("path", ["/api/metrics", "/api/version"])
def test_metrics_and_version_are_not_public(api, path, handler, owner, other_user):
    assert_error(api.get(path), 401, "NOT_AUTHENTICATED")
    assert_error(api.get(path, HTTP_AUTHORIZATION="Bearer ops-wrong-token"), 401, "AUTHENTICATION_FAILED")
    assert_error(client_for(handler, owner).get(path), 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("path", ["/api/metrics", "/api/version"])
def test_staff_and_the_ops_token_read_metrics_and_version(api, staff_api, path):
    assert staff_api.get(path).status_code == 200
    assert api.get(path, HTTP_AUTHORIZATION=f"Bearer {OPS_TOKEN}").status_code == 200


@pytest.mark.parametrize("authorization", ["Bearer x", "Bearer ", "Bearer  ", "Bearer"])
def test_without_an_ops_token_configured_no_bearer_string_is_one(api, settings, authorization):
    # An unset OPS_TOKEN is "", which an empty bearer value must not match.
    settings.OPS_TOKEN = ""

    response = api.get("/api/metrics", HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 401, response.content
    assert api.get("/api/status", HTTP_AUTHORIZATION=authorization).json() == {"success": True, "status": "offline"}


@pytest.mark.parametrize("path", ["/api/status", "/status"])
def test_status_tells_anyone_only_online_or_offline(api, handler, owner, path):
    WorkerHeartbeat.objects.create(name="celery@a", last_seen=timezone.now())

    anonymous = api.get(path)
    with_a_bad_token = api.get(path, HTTP_AUTHORIZATION="Bearer garbage")
    as_a_user = client_for(handler, owner).get(path)

    for response in (anonymous, with_a_bad_token, as_a_user):
        assert response.status_code == 200
        assert response.json() == {"success": True, "status": "online"}


@pytest.mark.parametrize("path", ["/api/status", "/status"])
def test_status_detail_for_staff_and_the_ops_token(api, staff_api, path):
    WorkerHeartbeat.objects.create(name="celery@a", last_seen=timezone.now())

    for response in (staff_api.get(path), api.get(path, HTTP_AUTHORIZATION=f"Bearer {OPS_TOKEN}")):
        body = response.json()
        assert (body["status"], body["workers"], body["running_bots"]) == ("online", 1, 0)
        assert body["last_heartbeat"] is not None
