"""Audit entries learn the client's IP and the request id from the request's context.

The services that write them are never handed the HttpRequest (issue 17 item 2): the
middleware records where the request came from, and work done outside any request (the
engine, Celery, ``manage.py``) records no IP, even in a thread that served one before.
"""

from __future__ import annotations

import pytest

from accounts.models import AuditEntry
from adminpanel import services
from core.context import current_request

pytestmark = pytest.mark.django_db

CLIENT_IP = "203.0.113.9"
REQUEST_ID = "drill-request-0001"


def test_a_staff_action_through_the_api_carries_the_clients_ip_and_request_id(staff_api):
    response = staff_api.post(
        "/api/admin/halt",
        {"halted": True, "reason": "drill"},
        format="json",
        REMOTE_ADDR=CLIENT_IP,
        HTTP_X_REQUEST_ID=REQUEST_ID,
    )

    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.get(action="admin.fleet_halted")
    assert (entry.ip_address, entry.request_id) == (CLIENT_IP, REQUEST_ID)


def test_a_failed_unlock_is_audited_with_the_clients_ip_and_refused_naming_the_password(staff_api):
    response = staff_api.post("/api/admin/unlock", {"password": "not it"}, format="json", REMOTE_ADDR=CLIENT_IP)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("VALIDATION_ERROR", "password: The password is incorrect.")
    assert error["details"] == {"password": ["The password is incorrect."]}
    entry = AuditEntry.objects.get(action="admin.unlock_failed")
    assert entry.ip_address == CLIENT_IP


def test_work_after_a_request_in_the_same_thread_records_no_ip(staff_api, staff, owner):
    staff_api.get("/api/admin/halt", REMOTE_ADDR=CLIENT_IP)
    assert current_request() is None  # the request's context ended with it

    services.user_unlock(actor=staff, user_id=owner.pk)

    assert AuditEntry.objects.get(action="admin.user_updated").ip_address is None
