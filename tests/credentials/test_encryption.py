"""Encryption at rest: FERNET_KEYS only, a wrong key is a clear error, rotation."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from credentials import services
from credentials.exceptions import CredentialDecryptError
from credentials.fields import reset_key_cache
from credentials.models import Credential
from credentials.selectors import credential_for_order
from tests.credentials.helpers import BINANCE_SAVE, raw_columns

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()


@pytest.fixture
def keys(settings):
    """Set FERNET_KEYS; the field's cached ciphers are reset each time (and after the test)."""

    def use(*fernet_keys: str) -> None:
        settings.FERNET_KEYS = list(fernet_keys)
        reset_key_cache()

    yield use
    reset_key_cache()


def _save(user, label="default", **secrets) -> Credential:
    values = {"api_key": BINANCE_SAVE["api_key"], "api_secret": BINANCE_SAVE["api_secret"], **secrets}
    return services.credential_save(user=user, provider="binance", purpose="live", label=label, secrets=values)


def test_columns_hold_ciphertext_under_the_first_key(owner, keys):
    keys(KEY_A)
    credential = _save(owner)

    raw = raw_columns(credential.pk)

    assert BINANCE_SAVE["api_secret"].encode() not in raw["api_secret"]
    assert Fernet(KEY_A).decrypt(raw["api_secret"]).decode() == BINANCE_SAVE["api_secret"]
    assert Fernet(KEY_A).decrypt(raw["passphrase"]) == b""


def test_no_keys_is_a_configuration_error_never_secret_key(owner, keys):
    keys()

    with pytest.raises(ImproperlyConfigured, match="FERNET_KEYS is empty"):
        _save(owner)


def test_a_malformed_key_is_named_by_position_not_value(owner, keys):
    keys(KEY_A, "not-a-fernet-key")

    with pytest.raises(ImproperlyConfigured) as excinfo:
        _save(owner)

    assert "FERNET_KEYS[1]" in str(excinfo.value)
    assert "not-a-fernet-key" not in str(excinfo.value)


def test_every_configured_key_decrypts(owner, keys):
    keys(KEY_A)
    credential = _save(owner)
    keys(KEY_B, KEY_A)

    assert Credential.objects.get(pk=credential.pk).api_secret == BINANCE_SAVE["api_secret"]


# ---------------------------------------------------------------------------
# A wrong key: a clear error naming the row, never ciphertext, never a 500
# ---------------------------------------------------------------------------
def test_reading_with_a_wrong_key_raises_a_clear_error(owner, keys):
    keys(KEY_A)
    credential = _save(owner)
    keys(KEY_B)

    loaded = Credential.objects.get(pk=credential.pk)

    assert loaded.undecryptable_fields == [
        "api_key",
        "api_secret",
        "passphrase",
        "client_code",
        "password",
        "totp_secret",
    ]
    with pytest.raises(CredentialDecryptError) as excinfo:
        _ = loaded.api_secret
    message = excinfo.value.message
    assert f"Credential {credential.pk} (binance/live/default)" in message
    assert "api_secret" in message and "gAAAA" not in message
    with pytest.raises(CredentialDecryptError):
        loaded.keyset()
    with pytest.raises(CredentialDecryptError):
        credential_for_order(user=owner, provider="binance", purpose="live")


def test_endpoints_with_a_wrong_key_answer_4xx(owner_client, owner, keys):
    keys(KEY_A)
    credential = _save(owner)
    keys(KEY_B)

    listed = owner_client.get("/api/keys")
    tested = owner_client.post("/api/keys/test", {"provider": "binance", "credential_id": credential.pk}, format="json")
    profile = owner_client.get("/api/val/profile")

    assert listed.status_code == 200
    assert listed.json()["credentials"][0]["api_key_hint"] == "…1234"
    assert tested.status_code == 400
    assert tested.json()["error"]["code"] == "CREDENTIAL_UNDECRYPTABLE"
    assert str(credential.pk) in tested.json()["error"]["message"]
    assert b"gAAAA" not in tested.content
    assert profile.status_code == 200


def test_saving_other_columns_keeps_the_undecryptable_ciphertext(owner, keys):
    keys(KEY_A)
    credential = _save(owner)
    before = raw_columns(credential.pk)
    keys(KEY_B)

    loaded = Credential.objects.get(pk=credential.pk)
    loaded.last_test_message = "touched"
    loaded.save()

    assert raw_columns(credential.pk) == before
    keys(KEY_A)
    assert Credential.objects.get(pk=credential.pk).api_secret == BINANCE_SAVE["api_secret"]


def test_saving_again_replaces_an_undecryptable_set(owner_client, owner, keys):
    keys(KEY_A)
    _save(owner)
    keys(KEY_B)

    response = owner_client.post("/api/keys/save", BINANCE_SAVE, format="json")

    assert response.status_code == 201
    assert Credential.objects.get(owner=owner).api_secret == BINANCE_SAVE["api_secret"]


def test_delete_works_without_the_key(owner_client, owner, keys):
    keys(KEY_A)
    credential = _save(owner)
    keys(KEY_B)

    assert owner_client.delete(f"/api/keys/{credential.pk}").status_code == 200


# ---------------------------------------------------------------------------
# Rotation
# ---------------------------------------------------------------------------
def _rotate(**options) -> str:
    out = StringIO()
    call_command("rotate_credentials", stdout=out, **options)
    return out.getvalue()


def test_rotation_re_encrypts_under_the_newest_key(owner, other_user, keys):
    keys(KEY_A)
    rows = [_save(owner, label=f"l{i}", passphrase=f"pass-{i}") for i in range(5)]
    rows.append(_save(other_user))
    keys(KEY_B, KEY_A)

    output = _rotate(batch_size=2)

    assert "scanned 6, rotated 6, already current 0, failed 0 (3 batches)" in output
    keys(KEY_B)  # the old key is gone: everything must decrypt with the newest alone
    for row in rows:
        loaded = Credential.objects.get(pk=row.pk)
        assert loaded.undecryptable_fields == []
        assert loaded.api_secret == BINANCE_SAVE["api_secret"]
        assert Fernet(KEY_B).decrypt(raw_columns(row.pk)["api_secret"]).decode() == BINANCE_SAVE["api_secret"]
        with pytest.raises(InvalidToken):
            Fernet(KEY_A).decrypt(raw_columns(row.pk)["api_secret"])
    assert Credential.objects.get(pk=rows[2].pk).passphrase == "pass-2"


def test_rotation_is_idempotent(owner, keys):
    keys(KEY_A)
    credential = _save(owner)
    keys(KEY_B, KEY_A)
    _rotate()
    after_first = raw_columns(credential.pk)

    output = _rotate()

    assert "scanned 1, rotated 0, already current 1, failed 0" in output
    assert raw_columns(credential.pk) == after_first


def test_rotation_resumes_after_an_interruption(owner, keys):
    from credentials import rotation

    keys(KEY_A)
    for i in range(4):
        _save(owner, label=f"l{i}")
    keys(KEY_B, KEY_A)

    def crash(report):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotation.rotate_credentials(batch_size=1, progress=crash)

    output = _rotate(batch_size=1)
    assert "scanned 4, rotated 3, already current 1, failed 0" in output


def test_rotation_reports_rows_no_key_decrypts_and_rotates_the_rest(owner, keys):
    keys(KEY_C)
    lost = _save(owner, label="lost")
    keys(KEY_A)
    kept = _save(owner, label="kept")
    keys(KEY_B, KEY_A)
    lost_raw = raw_columns(lost.pk)

    with pytest.raises(CommandError, match=f"ids {lost.pk}"):
        _rotate()

    assert raw_columns(lost.pk) == lost_raw
    assert Fernet(KEY_B).decrypt(raw_columns(kept.pk)["api_key"]).decode() == BINANCE_SAVE["api_key"]


def test_rotation_does_not_change_updated_at(owner, keys):
    keys(KEY_A)
    credential = _save(owner)
    keys(KEY_B, KEY_A)

    _rotate()

    assert Credential.objects.get(pk=credential.pk).updated_at == credential.updated_at
