"""GET/PATCH /api/auth/me (alias /api/auth/profile) and POST /api/auth/change-password."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import USING_POSTGRES, bearer_client
from tests.envelope import assert_error
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()

NEW_PASSWORD = "an-even-longer-passphrase-2"


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/auth/profile"])
def test_me_returns_the_callers_own_profile(owner, owner_client, other_user, path):
    response = owner_client.get(path)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"success", "user"}
    assert body["user"] == {
        "id": owner.pk,
        "email": "owner@example.com",
        "username": "owner",
        "first_name": owner.first_name,
        "last_name": "",
        "full_name": "",
        "phone": "",
        "is_verified": False,
        "is_staff": False,
        "date_joined": owner.date_joined.isoformat().replace("+00:00", "Z"),
        "last_login": None,
    }


def test_me_needs_authentication(api_client):
    assert_error(api_client.get("/api/auth/me"), 401, "NOT_AUTHENTICATED")


def test_patch_changes_only_profile_fields_and_ignores_the_rest(owner, owner_client):
    response = owner_client.patch(
        "/api/auth/profile",
        {"full_name": "Olive Owner", "phone": "+44 20 7946 0000", "email": "hijack@example.com", "is_staff": True},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["user"]["full_name"] == "Olive Owner"
    owner.refresh_from_db()
    assert (owner.full_name, owner.phone) == ("Olive Owner", "+44 20 7946 0000")
    assert (owner.email, owner.is_staff) == ("owner@example.com", False)


def test_patch_accepts_form_encoded_bodies(owner, owner_client):
    response = owner_client.patch(
        "/api/auth/me", "first_name=Olga&last_name=O", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200, response.content
    owner.refresh_from_db()
    assert (owner.first_name, owner.last_name) == ("Olga", "O")


def test_patch_to_a_taken_username_is_a_409_and_changes_nothing(owner, owner_client, other_user):
    response = owner_client.patch("/api/auth/me", {"username": "OTHER", "full_name": "X"}, format="json")

    assert_error(response, 409, "USERNAME_TAKEN")
    owner.refresh_from_db()
    assert (owner.username, owner.full_name) == ("owner", "")


@pytest.mark.parametrize(("payload", "field"), [({"phone": "not a phone"}, "phone"), ({"username": ""}, "username")])
def test_patch_with_an_invalid_value_is_a_400_and_changes_nothing(owner, owner_client, payload, field):
    response = owner_client.patch("/api/auth/me", payload, format="json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert list(error["details"]) == [field]
    owner.refresh_from_db()
    assert (owner.username, owner.phone) == ("owner", "")


def test_patch_with_a_wrong_content_type_is_a_415(owner, owner_client):
    response = owner_client.patch("/api/auth/me", "full_name=X", content_type="text/plain")

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    owner.refresh_from_db()
    assert owner.full_name == ""


# ---------------------------------------------------------------------------
# Change password
# ---------------------------------------------------------------------------
def change(client, old, new):
    return client.post("/api/auth/change-password", {"old_password": old, "new_password": new}, format="json")


def test_change_password_signs_out_other_sessions_and_returns_a_working_pair(api_client, owner, password):
    # Given two sessions
    this, elsewhere = bearer_client(owner), bearer_client(owner)

    # When one changes the password
    response = change(this, password, NEW_PASSWORD)

    # Then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Password changed; other sessions were signed out."
    assert body["token"] == body["access_token"]
    # every token issued before stops working, in every session
    for client in (this, elsewhere):
        assert_error(client.get("/api/auth/me"), 401, "AUTHENTICATION_FAILED")
        response = api_client.post("/api/auth/refresh", {"refresh": client.tokens["refresh_token"]}, format="json")
        assert response.status_code == 401
    # the returned pair works
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert api_client.get("/api/auth/me").status_code == 200
    assert api_client.post("/api/auth/refresh", {"refresh": body["refresh_token"]}, format="json").status_code == 200
    # and only the new password logs in
    login = "/api/auth/login"
    assert api_client.post(login, {"email": owner.email, "password": password}, format="json").status_code == 401
    assert api_client.post(login, {"email": owner.email, "password": NEW_PASSWORD}, format="json").status_code == 200


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("wrong-password", NEW_PASSWORD, "old_password", "The current password is incorrect."),
        (None, None, "new_password", "The new password must differ from the current one."),
        (None, "short", "new_password", "This password is too short. It must contain at least 8 characters."),
        (None, "12345678901", "new_password", "This password is entirely numeric."),
    ],
)
def test_change_password_refusals_change_nothing(owner, owner_client, password, old, new, field, message):
    response = change(owner_client, old or password, new or password)

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert message in error["details"][field]
    owner.refresh_from_db()
    assert owner.check_password(password)
    assert owner.token_version == 0
    assert owner_client.get("/api/auth/me").status_code == 200


def test_change_password_needs_both_fields(owner_client):
    response = owner_client.post("/api/auth/change-password", {"old_password": "x"}, format="json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"] == {"new_password": ["This field is required."]}


def test_change_password_needs_authentication(api_client, password):
    assert_error(change(api_client, password, NEW_PASSWORD), 401, "NOT_AUTHENTICATED")


# ---------------------------------------------------------------------------
# A username is never an e-mail address
# ---------------------------------------------------------------------------
def _login(client, identifier, password):
    return client.post("/api/auth/login", {"identifier": identifier, "password": password}, format="json")


def test_another_users_email_cannot_become_a_username(api_client, owner, owner_client, other_user, password):
    # When the owner tries to take the other user's e-mail as a username
    response = owner_client.patch("/api/auth/me", {"username": "other@example.com"}, format="json")

    # Then it is refused, and nothing changed
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"] == {
        "username": ["A username has letters, digits and . + - _ only (no @: e-mail addresses log in as e-mails)."]
    }
    owner.refresh_from_db()
    assert owner.username == "owner"
    # and the other user's e-mail still logs into the other user's account only
    assert _login(api_client, "other@example.com", password).json()["user"]["id"] == other_user.pk
    owner.set_password("owners-own-passphrase-3")
    owner.save(update_fields=["password"])
    assert_error(_login(api_client, "other@example.com", "owners-own-passphrase-3"), 401, "INVALID_CREDENTIALS")


@pytest.mark.parametrize("username", ["other@example.com", "future@example.com", "a@b"])
def test_register_refuses_a_username_with_an_at_sign(api_client, other_user, username):
    response = api_client.post(
        "/api/auth/register",
        {"email": "new@example.com", "password": "a-long-passphrase-1", "username": username},
        format="json",
    )

    assert assert_error(response, 400, "VALIDATION_ERROR")["details"].keys() == {"username"}
    assert not User.objects.filter(email="new@example.com").exists()


def test_staff_cannot_give_a_username_with_an_at_sign(staff_client, other_user):
    response = staff_client.put(f"/api/admin/users/{other_user.pk}", {"username": "owner@example.com"}, format="json")

    assert assert_error(response, 400, "VALIDATION_ERROR")["details"].keys() == {"username"}
    other_user.refresh_from_db()
    assert other_user.username == "other"


def test_the_database_refuses_a_username_with_an_at_sign(other_user):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=other_user.pk).update(username="owner@example.com")


def test_an_identifier_with_an_at_sign_names_an_email_never_a_username(api_client, owner, password):
    # "owner" is a username; "owner@example.com" the e-mail: each finds the same account its own way
    assert _login(api_client, "owner", password).json()["user"]["id"] == owner.pk
    assert _login(api_client, "OWNER@example.com", password).json()["user"]["id"] == owner.pk
    assert_error(_login(api_client, "owner@", password), 401, "INVALID_CREDENTIALS")


# "\u212a" (KELVIN SIGN) lowers to "k" but uppers to itself. The unique constraint compares
# usernames with LOWER, Django's iexact with UPPER: on PostgreSQL "\u212aate" passed the
# taken check and then broke the constraint (a 500). SQLite's lower() folds ASCII only,
# so there the two names are different usernames.
needs_unicode_lower = pytest.mark.skipif(not USING_POSTGRES, reason="SQLite's lower() folds ASCII only")


@needs_unicode_lower
def test_a_username_the_constraint_holds_taken_is_a_409_on_profile_update(owner, owner_client):
    UserFactory(email="kate@example.com", username="kate")

    response = owner_client.patch("/api/auth/me", {"username": "\u212aate"}, format="json")

    assert_error(response, 409, "USERNAME_TAKEN")
    owner.refresh_from_db()
    assert owner.username == "owner"


@needs_unicode_lower
def test_a_username_the_constraint_holds_taken_is_a_409_on_staff_update(staff_client, other_user):
    UserFactory(email="kate@example.com", username="kate")

    response = staff_client.put(f"/api/admin/users/{other_user.pk}", {"username": "\u212aate"}, format="json")

    assert_error(response, 409, "USERNAME_TAKEN")
    other_user.refresh_from_db()
    assert other_user.username == "other"


@needs_unicode_lower
def test_a_username_the_constraint_holds_taken_is_a_409_on_register(api_client):
    UserFactory(email="kate@example.com", username="kate")

    response = api_client.post(
        "/api/auth/register",
        {"email": "new@example.com", "password": "a-long-passphrase-1", "username": "\u212aate"},
        format="json",
    )

    assert_error(response, 409, "USERNAME_TAKEN")
    assert not User.objects.filter(email="new@example.com").exists()
