"""Passwords are stored with Argon2id at the configured parameters; PBKDF2 hashes of an
earlier install still log in and are upgraded on the way."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password
from django.test import override_settings

import config.settings as project_settings
from accounts.hashers import Argon2idPasswordHasher
from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-passphrase-42"


@pytest.fixture(autouse=True)
def production_hashers():
    # The suite hashes with MD5 for speed; these tests are about the real list.
    with override_settings(PASSWORD_HASHERS=project_settings.PASSWORD_HASHERS):
        yield


def _login(client, email, password=PASSWORD):
    return client.post("/api/auth/login", {"email": email, "password": password}, format="json")


def test_registration_stores_argon2id_at_the_configured_parameters(api_client):
    response = api_client.post("/api/auth/register", {"email": "new@example.com", "password": PASSWORD}, format="json")

    assert response.status_code == 201, response.content
    stored = User.objects.get(email="new@example.com").password
    assert stored.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")


def test_a_pbkdf2_hash_logs_in_and_is_upgraded(api_client):
    user = UserFactory(email="old@example.com")
    User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD, hasher="pbkdf2_sha256"))

    assert _login(api_client, "old@example.com").status_code == 200

    assert User.objects.get(pk=user.pk).password.startswith("argon2$argon2id$")


def test_a_wrong_password_on_a_pbkdf2_hash_neither_logs_in_nor_rehashes(api_client):
    user = UserFactory(email="old@example.com")
    legacy = make_password(PASSWORD, hasher="pbkdf2_sha256")
    User.objects.filter(pk=user.pk).update(password=legacy)

    assert _login(api_client, "old@example.com", "not-the-password").status_code == 401

    assert User.objects.get(pk=user.pk).password == legacy


def test_weaker_argon2_parameters_are_raised_at_login(api_client):
    user = UserFactory(email="weak@example.com")
    with override_settings(PASSWORD_ARGON2_MEMORY_KIB=8192):
        weak = Argon2idPasswordHasher().encode(PASSWORD, "saltsaltsaltsalt")
    assert "m=8192," in weak
    User.objects.filter(pk=user.pk).update(password=weak)

    assert _login(api_client, "weak@example.com").status_code == 200

    assert "m=19456," in User.objects.get(pk=user.pk).password
