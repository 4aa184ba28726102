"""The Django admin: users and the (read-only) audit trail."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from accounts.models import AuditEntry
from accounts.services import audit_record
from tests.conftest import bearer_client
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(owner):
    return audit_record(actor=owner, action="user.logged_in", target=owner, data={"note": "hello"})


@pytest.fixture
def staff_viewer(client, staff):
    """A staff member allowed to view users and audit entries, logged into the admin."""
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "view_auditentry"]))
    client.force_login(staff)
    return client


@pytest.mark.parametrize("as_superuser", [True, False])
def test_user_and_audit_pages_render_for_staff(admin_client, staff_viewer, owner, entry, as_superuser):
    client = admin_client if as_superuser else staff_viewer
    pages = [
        "/admin/",
        "/admin/accounts/user/",
        "/admin/accounts/user/?q=owner",
        f"/admin/accounts/user/{owner.pk}/change/",
        "/admin/accounts/auditentry/",
        "/admin/accounts/auditentry/?action=user.logged_in",
        f"/admin/accounts/auditentry/{entry.pk}/change/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
    listing = client.get("/admin/accounts/auditentry/").content.decode()
    assert "owner@example.com" in listing
    assert "user.logged_in" in listing


def test_superuser_can_add_a_user(admin_client):
    assert admin_client.get("/admin/accounts/user/add/").status_code == 200


def test_audit_entries_are_read_only_even_for_superusers(admin_client, entry):
    detail = admin_client.get(f"/admin/accounts/auditentry/{entry.pk}/change/").content.decode()
    assert 'name="_save"' not in detail
    assert admin_client.get("/admin/accounts/auditentry/add/").status_code == 403
    assert admin_client.get(f"/admin/accounts/auditentry/{entry.pk}/delete/").status_code == 403

    response = admin_client.post(f"/admin/accounts/auditentry/{entry.pk}/change/", {"action": "tampered"})
    assert response.status_code == 403
    response = admin_client.post(
        "/admin/accounts/auditentry/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    entry.refresh_from_db()
    assert entry.action == "user.logged_in"
    assert AuditEntry.objects.count() == 1


def test_non_staff_are_sent_to_the_admin_login(client, owner):
    client.force_login(owner)

    response = client.get("/admin/accounts/auditentry/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_admin_login_locks_out_too(client, staff):
    for _ in range(5):
        client.post("/admin/login/", {"username": "staff@example.com", "password": "wrong"}, REMOTE_ADDR="10.3.0.1")

    response = client.post(
        "/admin/login/", {"username": "staff@example.com", "password": "correct-horse-battery-staple"}
    )

    assert_error(response, 429, "ACCOUNT_LOCKED")
    assert int(response["Retry-After"]) > 0


def test_a_password_set_in_the_admin_ends_the_accounts_sessions(admin_client, owner):
    # Given the owner signed in (an access and a refresh token), e.g. by someone who stole the password
    signed_in = bearer_client(owner)
    refresh = signed_in.tokens["refresh_token"]
    assert signed_in.get("/api/auth/me").status_code == 200

    # When staff set a new password on the admin's password page
    response = admin_client.post(
        f"/admin/accounts/user/{owner.pk}/password/",
        {"usable_password": "true", "password1": "a-fresh-passphrase-9", "password2": "a-fresh-passphrase-9"},
    )

    # Then the tokens issued before stop working, as after the owner's own password change
    assert response.status_code == 302, response.content
    owner.refresh_from_db()
    assert owner.check_password("a-fresh-passphrase-9")
    assert_error(signed_in.get("/api/auth/me"), 401, "AUTHENTICATION_FAILED")
    refreshed = signed_in.post("/api/auth/refresh", {"refresh_token": refresh}, format="json")
    assert_error(refreshed, 401, "TOKEN_INVALID")
