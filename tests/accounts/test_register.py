"""POST /api/auth/register."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts.models import AuditEntry
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db
User = get_user_model()

URL = "/api/auth/register"
STRONG = "a-long-passphrase-1"


def test_register_creates_the_user_and_returns_a_working_token_pair(api_client):
    # When
    response = api_client.post(
        URL,
        {"email": " New@Example.COM", "password": STRONG, "first_name": "Ada", "full_name": "Ada L", "phone": "+1 55"},
        format="json",
    )

    # Then
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"success", "user", "token", "access_token", "refresh_token", "token_type", "expires_in"}
    assert body["success"] is True
    assert body["token"] == body["access_token"]
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["user"]["email"] == "new@example.com"
    assert body["user"]["username"] == "new"
    assert body["user"]["first_name"] == "Ada"
    assert body["user"]["full_name"] == "Ada L"
    assert body["user"]["phone"] == "+1 55"
    assert body["user"]["is_verified"] is False
    assert body["user"]["is_staff"] is False
    user = User.objects.get(email="new@example.com")
    assert user.check_password(STRONG)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert api_client.get("/api/auth/me").json()["user"]["id"] == user.pk
    refreshed = api_client.post("/api/auth/refresh", {"refresh": body["refresh_token"]}, format="json")
    assert refreshed.status_code == 200


def test_register_picks_a_free_username_when_none_is_given(api_client, owner):
    response = api_client.post(URL, {"email": "owner@elsewhere.org", "password": STRONG}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["user"]["username"] == "owner2"


def test_register_duplicate_email_is_a_409_whatever_the_case(api_client, owner):
    # Given an account owner@example.com
    before = User.objects.count()

    # When someone registers the same address in other case
    response = api_client.post(URL, {"email": "OWNER@Example.com", "password": STRONG}, format="json")

    # Then
    error = assert_error(response, 409, "EMAIL_TAKEN")
    assert error["details"] == {"email": ["An account with this email already exists."]}
    assert User.objects.count() == before
    owner.refresh_from_db()
    assert owner.check_password("correct-horse-battery-staple")


def test_register_duplicate_username_is_a_409(api_client, owner):
    before = User.objects.count()

    response = api_client.post(URL, {"email": "x@example.com", "username": "OWNER", "password": STRONG}, format="json")

    assert_error(response, 409, "USERNAME_TAKEN")
    assert User.objects.count() == before


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "This password is too short. It must contain at least 8 characters."),
        ("password", "This password is too common."),
        ("8675309123", "This password is entirely numeric."),
        ("weakling@example.com", "The password is too similar to the email address."),
    ],
)
def test_register_refuses_a_weak_password(api_client, password, message):
    response = api_client.post(URL, {"email": "weakling@example.com", "password": password}, format="json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert message in error["details"]["password"]
    assert error["message"].startswith("password: ")
    assert not User.objects.filter(email="weakling@example.com").exists()
    assert AuditEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": STRONG}, "email"),
        ({"email": "not-an-email", "password": STRONG}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": STRONG, "username": "has space"}, "username"),
        ({"email": "a@example.com", "password": STRONG, "phone": "call me"}, "phone"),
    ],
)
def test_register_names_the_invalid_field(api_client, payload, field):
    response = api_client.post(URL, payload, format="json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert list(error["details"]) == [field]
    assert error["message"].startswith(f"{field}: ")
    assert User.objects.count() == 0


def test_register_ignores_unknown_fields_including_privileged_ones(api_client):
    response = api_client.post(
        URL,
        {"email": "sneaky@example.com", "password": STRONG, "is_staff": True, "is_superuser": True, "colour": "red"},
        format="json",
    )

    assert response.status_code == 201, response.content
    user = User.objects.get(email="sneaky@example.com")
    assert (user.is_staff, user.is_superuser) == (False, False)


def test_register_accepts_form_encoded_and_multipart_bodies(api_client):
    form = api_client.post(URL, {"email": "form@example.com", "password": STRONG}, format="multipart")
    urlencoded = api_client.post(
        URL, "email=urlenc%40example.com&password=" + STRONG, content_type="application/x-www-form-urlencoded"
    )

    assert form.status_code == 201, form.content
    assert urlencoded.status_code == 201, urlencoded.content
    assert set(User.objects.values_list("email", flat=True)) == {"form@example.com", "urlenc@example.com"}


def test_register_with_a_wrong_content_type_is_a_415(api_client):
    response = api_client.post(URL, "email=a@example.com", content_type="text/plain")

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert User.objects.count() == 0


def test_register_with_malformed_json_is_a_400_that_says_why(api_client):
    response = api_client.post(URL, '{"email": "a@example.com", ', content_type="application/json")

    error = assert_error(response, 400, "PARSE_ERROR")
    assert "JSON parse error" in error["message"]
    assert User.objects.count() == 0
