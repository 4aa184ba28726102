"""Two-factor sign-in: setup, enable, the login challenge, replay, recovery codes, lockout,
disabling, the staff policy, and fresh codes for sensitive actions."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache

from accounts import crypto
from accounts.models import AccountPolicy, AuditEntry, RecoveryCode, TwoFactor
from tests.accounts.twofactor_kit import turn_on_two_factor
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db


def login(client, password, email="owner@example.com"):
    return client.post("/api/auth/login", {"email": email, "password": password}, format="json")


def verify(client, challenge, **codes):
    return client.post("/api/auth/2fa/verify", {"challenge": challenge, **codes}, format="json")


# ---------------------------------------------------------------------------
# Setup and enable
# ---------------------------------------------------------------------------
def test_setup_gives_a_secret_and_an_otpauth_url_and_stores_it_sealed(owner_api, owner):
    body = owner_api.post("/api/auth/2fa/setup", {}, format="json").json()

    url = urlsplit(body["otpauth_url"])
    assert (url.scheme, url.netloc) == ("otpauth", "totp")
    assert parse_qs(url.query)["secret"] == [body["secret"]]
    assert parse_qs(url.query)["issuer"] == ["Botfleet"]
    stored = TwoFactor.objects.get(user=owner)
    assert body["secret"] not in stored.secret_sealed
    assert crypto.unseal(stored.secret_sealed) == body["secret"]
    assert stored.enabled_at is None  # pending until a first code proves the app has it


def test_setup_gives_the_otpauth_url_as_an_svg_qr_code(owner_api):
    body = owner_api.post("/api/auth/2fa/setup", {}, format="json").json()

    assert body["qr_svg"].startswith("data:image/svg+xml")
    assert body["secret"] not in body["qr_svg"]  # an image of it, not the text


def test_status_says_off_then_on_with_the_recovery_codes_left(owner_api, clock):
    off = owner_api.get("/api/auth/2fa").json()
    assert (off["enabled"], off["enabled_at"], off["recovery_codes_left"]) == (False, None, 0)
    owner_api.post("/api/auth/2fa/setup", {}, format="json")
    assert owner_api.get("/api/auth/2fa").json()["enabled"] is False  # pending is not on

    app, codes = turn_on_two_factor(owner_api, clock)
    RecoveryCode.objects.filter(pk=RecoveryCode.objects.order_by("pk").first().pk).update(used_at="2030-01-01T00:00Z")

    on = owner_api.get("/api/auth/2fa").json()
    assert (on["enabled"], on["recovery_codes_left"]) == (True, 9)
    assert on["enabled_at"]


def test_enable_with_a_wrong_code_is_a_400_and_leaves_it_off(owner_api, owner, clock):
    owner_api.post("/api/auth/2fa/setup", {}, format="json")

    error = assert_error(
        owner_api.post("/api/auth/2fa/enable", {"code": "000000"}, format="json"), 400, "VALIDATION_ERROR"
    )

    assert "code" in error["details"]
    assert TwoFactor.objects.get(user=owner).enabled_at is None


def test_enable_without_setup_is_a_409(owner_api):
    assert_error(
        owner_api.post("/api/auth/2fa/enable", {"code": "123456"}, format="json"), 409, "TWO_FACTOR_NOT_SET_UP"
    )


def test_enable_returns_ten_one_time_recovery_codes_stored_hashed(owner_client, owner, clock):
    _app, codes = turn_on_two_factor(owner_client, clock)

    assert len(codes) == len(set(codes)) == 10
    stored = list(RecoveryCode.objects.filter(user=owner).values_list("code_hash", flat=True))
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert_error(owner_client.post("/api/auth/2fa/setup", {}, format="json"), 409, "TWO_FACTOR_ALREADY_ENABLED")


# ---------------------------------------------------------------------------
# Signing in
# ---------------------------------------------------------------------------
def test_login_with_2fa_answers_a_challenge_and_no_token(owner_client, api_client, password, clock):
    turn_on_two_factor(owner_client, clock)

    body = login(api_client, password).json()

    assert body["success"] is True and body["two_factor_required"] is True and body["challenge"]
    assert not {"token", "access_token", "refresh_token", "user"} & set(body)


def test_verify_with_a_code_gives_the_tokens(owner_client, api_client, password, clock):
    app, _codes = turn_on_two_factor(owner_client, clock)
    challenge = login(api_client, password).json()["challenge"]

    body = verify(api_client, challenge, code=app.code()).json()

    assert body["success"] is True and body["user"]["email"] == "owner@example.com"
    me = api_client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert me.status_code == 200


def test_a_code_is_not_reusable_inside_its_window(owner_client, api_client, password, clock):
    app, _codes = turn_on_two_factor(owner_client, clock)
    code = app.code()
    assert verify(api_client, login(api_client, password).json()["challenge"], code=code).status_code == 200

    replay = verify(api_client, login(api_client, password).json()["challenge"], code=code)

    assert_error(replay, 401, "TWO_FACTOR_CODE_INVALID")
    # An earlier step's code (still inside the ±1 window) is refused too once a later one was used.
    assert_error(
        verify(api_client, login(api_client, password).json()["challenge"], code=app.code(-1)),
        401,
        "TWO_FACTOR_CODE_INVALID",
    )


def test_a_challenge_is_single_use(owner_client, api_client, password, clock):
    app, _codes = turn_on_two_factor(owner_client, clock)
    challenge = login(api_client, password).json()["challenge"]
    assert verify(api_client, challenge, code=app.code()).status_code == 200
    clock.next_step()

    assert_error(verify(api_client, challenge, code=app.code()), 401, "CHALLENGE_INVALID")


def test_an_expired_challenge_is_refused(owner_client, api_client, password, clock):
    from django.utils import timezone

    from accounts.models import LoginChallenge

    app, _codes = turn_on_two_factor(owner_client, clock)
    challenge = login(api_client, password).json()["challenge"]
    LoginChallenge.objects.update(expires_at=timezone.now())

    assert_error(verify(api_client, challenge, code=app.code()), 401, "CHALLENGE_INVALID")


def test_recovery_codes_work_once(owner_client, api_client, password, clock):
    _app, codes = turn_on_two_factor(owner_client, clock)

    first = verify(api_client, login(api_client, password).json()["challenge"], recovery_code=codes[0].upper())
    again = verify(api_client, login(api_client, password).json()["challenge"], recovery_code=codes[0])

    assert first.status_code == 200, first.content
    assert_error(again, 401, "TWO_FACTOR_CODE_INVALID")
    assert RecoveryCode.objects.filter(used_at__isnull=False).count() == 1
    assert AuditEntry.objects.filter(action="user.2fa_recovery_code_used").count() == 1


def test_guessing_codes_is_locked_out_like_passwords(owner_client, api_client, password, clock, settings):
    app, _codes = turn_on_two_factor(owner_client, clock)
    challenge = login(api_client, password).json()["challenge"]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert_error(verify(api_client, challenge, code="000000"), 401, "TWO_FACTOR_CODE_INVALID")

    locked = verify(api_client, challenge, code=app.code())  # even the right code, now

    error = assert_error(locked, 429, "ACCOUNT_LOCKED")
    assert 0 < int(locked["Retry-After"]) <= settings.AXES_COOLOFF_TIME.total_seconds() + 1
    assert error["details"]["retry_after"] == int(locked["Retry-After"])


def test_verify_needs_a_code_or_a_recovery_code(api_client):
    assert_error(verify(api_client, "whatever"), 400, "VALIDATION_ERROR")


# ---------------------------------------------------------------------------
# Disabling
# ---------------------------------------------------------------------------
def test_disable_needs_the_password_and_a_code(owner_client, owner, password, clock):
    app, _codes = turn_on_two_factor(owner_client, clock)
    url = "/api/auth/2fa/disable"

    assert_error(
        owner_client.post(url, {"password": "wrong", "code": app.code()}, format="json"), 400, "VALIDATION_ERROR"
    )
    assert_error(
        owner_client.post(url, {"password": password, "code": "000000"}, format="json"), 403, "TWO_FACTOR_CODE_INVALID"
    )
    assert owner_client.post(url, {"password": password, "code": app.code()}, format="json").status_code == 200

    assert not TwoFactor.objects.filter(user=owner).exists()
    assert not RecoveryCode.objects.filter(user=owner).exists()


def test_disable_takes_a_recovery_code_for_a_lost_phone(owner_client, owner, password, clock):
    _app, codes = turn_on_two_factor(owner_client, clock)

    response = owner_client.post("/api/auth/2fa/disable", {"password": password, "code": codes[3]}, format="json")

    assert response.status_code == 200, response.content
    assert not TwoFactor.objects.filter(user=owner).exists()


# ---------------------------------------------------------------------------
# Staff policy
# ---------------------------------------------------------------------------
@pytest.fixture
def staff_must_use_2fa():
    AccountPolicy.objects.update_or_create(
        pk=AccountPolicy.SINGLETON_ID, defaults={"require_two_factor_for_staff": True}
    )
    cache.clear()


def test_staff_without_2fa_are_held_to_auth_until_they_turn_it_on(staff_client, staff_must_use_2fa, clock):
    error = assert_error(staff_client.get("/api/admin/users"), 403, "TWO_FACTOR_REQUIRED")
    assert "auth/2fa/setup" in error["message"]
    assert staff_client.get("/api/auth/me").status_code == 200

    turn_on_two_factor(staff_client, clock)

    assert staff_client.get("/api/admin/users").status_code == 200


def test_the_staff_policy_leaves_other_users_alone(owner_client, staff_must_use_2fa):
    assert owner_client.get("/api/bots").status_code == 200


def test_without_the_policy_staff_need_no_2fa(staff_client):
    assert staff_client.get("/api/admin/users").status_code == 200


# ---------------------------------------------------------------------------
# Fresh codes for sensitive actions
# ---------------------------------------------------------------------------
KEYS = {"provider": "binance", "api_key": "fresh-code-key-1234", "api_secret": "fresh-code-secret"}


def test_without_2fa_saving_keys_needs_no_code(owner_client):
    assert owner_client.post("/api/keys/save", KEYS, format="json").status_code == 201


def test_with_2fa_saving_keys_needs_a_fresh_code(owner_client, clock):
    app, _codes = turn_on_two_factor(owner_client, clock)

    missing = owner_client.post("/api/keys/save", KEYS, format="json")
    wrong = owner_client.post("/api/keys/save", KEYS, format="json", HTTP_X_2FA_CODE="000000")
    right = owner_client.post("/api/keys/save", KEYS, format="json", HTTP_X_2FA_CODE=app.code())
    replayed = owner_client.post("/api/keys/save", KEYS, format="json", HTTP_X_2FA_CODE=app.code())

    assert_error(missing, 403, "TWO_FACTOR_CODE_REQUIRED")
    assert_error(wrong, 403, "TWO_FACTOR_CODE_INVALID")
    assert right.status_code == 201, right.content
    assert_error(replayed, 403, "TWO_FACTOR_CODE_INVALID")


def test_with_2fa_deleting_keys_needs_a_fresh_code_in_the_body_or_header(owner_client, clock):
    app, _codes = turn_on_two_factor(owner_client, clock)
    saved = owner_client.post("/api/keys/save", {**KEYS, "two_factor_code": app.code()}, format="json")
    assert saved.status_code == 201, saved.content
    clock.next_step()
    url = f"/api/keys/{saved.json()['credential']['id']}"

    assert_error(owner_client.delete(url), 403, "TWO_FACTOR_CODE_REQUIRED")
    assert owner_client.delete(url, HTTP_X_2FA_CODE=app.code()).status_code == 200


def test_with_2fa_creating_an_api_token_needs_a_fresh_code(owner_client, clock):
    app, _codes = turn_on_two_factor(owner_client, clock)
    body = {"name": "script", "scopes": ["read"]}

    assert_error(owner_client.post("/api/auth/tokens", body, format="json"), 403, "TWO_FACTOR_CODE_REQUIRED")
    created = owner_client.post("/api/auth/tokens", {**body, "two_factor_code": app.code()}, format="json")
    assert created.status_code == 201, created.content


def test_verify_sets_the_refresh_cookie_when_asked(owner_client, api_client, password, clock):
    app, _codes = turn_on_two_factor(owner_client, clock)
    challenge = login(api_client, password).json()["challenge"]

    response = api_client.post(
        "/api/auth/2fa/verify", {"challenge": challenge, "code": app.code(), "cookie": True}, format="json"
    )

    assert response.status_code == 200, response.content
    assert "refresh_token" not in response.json()
    assert response.cookies["botfleet_refresh"]["httponly"]
