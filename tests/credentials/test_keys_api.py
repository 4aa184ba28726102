"""keys list, delete (with the in-use hook), isolation and the audit trail."""

from __future__ import annotations

import pytest

from accounts.models import AuditEntry
from credentials import services
from credentials.models import Credential
from credentials.selectors import credential_for_order
from tests.credentials.helpers import BINANCE_SAVE


@pytest.fixture
def saved(owner_client) -> Credential:
    response = owner_client.post("/api/keys/save", BINANCE_SAVE, format="json")
    assert response.status_code == 201
    return Credential.objects.get(pk=response.json()["credential"]["id"])


@pytest.fixture
def in_use_checker():
    reasons: dict[int, str] = {}

    def checker(credential):
        return reasons.get(credential.pk)

    services.register_in_use_checker(checker)
    yield reasons
    services.unregister_in_use_checker(checker)


def test_list_shows_only_own_masked_sets(owner_client, other_client, saved, django_assert_max_num_queries):
    other_client.post("/api/keys/save", {**BINANCE_SAVE, "api_key": "others-key-000000000"}, format="json")

    with django_assert_max_num_queries(4):  # auth user, revocation check, the list
        body = owner_client.get("/api/keys").json()

    assert body["success"] is True
    assert body["total"] == 1
    assert body["credentials"] == [
        {
            "id": saved.pk,
            "provider": "binance",
            "purpose": "live",
            "label": "default",
            "api_key_hint": "…1234",
            "fields_set": ["api_key", "api_secret"],
            "created_at": body["credentials"][0]["created_at"],
            "updated_at": body["credentials"][0]["updated_at"],
            "last_tested_at": None,
            "last_test_ok": None,
        }
    ]


def test_delete(owner_client, owner, saved):
    response = owner_client.delete(f"/api/keys/{saved.pk}")

    assert response.status_code == 200
    assert response.json()["credential"]["id"] == saved.pk
    assert not Credential.objects.filter(pk=saved.pk).exists()
    entry = AuditEntry.objects.get(action="credential.deleted")
    assert (entry.actor, entry.target_type, entry.target_id) == (owner, "credential", str(saved.pk))
    assert entry.data["provider"] == "binance"


def test_delete_while_in_use_is_409_and_keeps_it(owner_client, saved, in_use_checker):
    in_use_checker[saved.pk] = "bot 7 'Alpha' is running live with it"

    response = owner_client.delete(f"/api/keys/{saved.pk}")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "CREDENTIAL_IN_USE"
    assert "bot 7 'Alpha' is running live with it" in error["message"]
    assert Credential.objects.filter(pk=saved.pk).exists()
    assert not AuditEntry.objects.filter(action="credential.deleted").exists()


def test_checker_runs_inside_the_delete_transaction(owner_client, saved):
    from django.db import connection

    seen = []

    def checker(credential):
        seen.append((credential.pk, connection.in_atomic_block))

    services.register_in_use_checker(checker)
    try:
        owner_client.delete(f"/api/keys/{saved.pk}")
    finally:
        services.unregister_in_use_checker(checker)
    assert seen == [(saved.pk, True)]


def test_unknown_id_is_404(owner_client):
    assert owner_client.delete("/api/keys/999999").status_code == 404
    assert owner_client.get("/api/keys/999999").status_code == 404


# ---------------------------------------------------------------------------
# Isolation: another user's credential does not exist for them
# ---------------------------------------------------------------------------
def test_another_user_cannot_list_get_test_delete_or_use(other_client, other_user, saved):
    assert other_client.get("/api/keys").json()["credentials"] == []
    assert other_client.get(f"/api/keys/{saved.pk}").status_code == 404
    response = other_client.post("/api/keys/test", {"provider": "binance", "credential_id": saved.pk}, format="json")
    assert response.status_code == 404
    assert other_client.delete(f"/api/keys/{saved.pk}").status_code == 404

    from core.errors import NotFound

    with pytest.raises(NotFound):
        credential_for_order(user=other_user, provider="binance", purpose="live", credential_id=saved.pk)
    assert Credential.objects.filter(pk=saved.pk, last_tested_at__isnull=True).exists()


def test_another_users_save_never_touches_mine(other_client, saved):
    other_client.post("/api/keys/save", {**BINANCE_SAVE, "api_secret": "replaced?"}, format="json")

    saved.refresh_from_db()
    assert saved.api_secret == BINANCE_SAVE["api_secret"]
    assert Credential.objects.count() == 2


def test_anonymous_is_401(api_client, saved):
    assert api_client.get("/api/keys").status_code == 401
    assert api_client.post("/api/keys/save", BINANCE_SAVE, format="json").status_code == 401
    assert api_client.delete(f"/api/keys/{saved.pk}").status_code == 401


# ---------------------------------------------------------------------------
# Audit: every save, delete and test, never a secret
# ---------------------------------------------------------------------------
def test_save_test_and_delete_are_audited_without_secrets(owner_client, owner, saved):
    owner_client.post("/api/keys/test", {"provider": "simulated"}, format="json")
    owner_client.delete(f"/api/keys/{saved.pk}")

    actions = list(AuditEntry.objects.filter(actor=owner).order_by("id").values_list("action", flat=True))
    assert actions == ["credential.saved", "credential.tested", "credential.deleted"]
    saved_entry = AuditEntry.objects.get(action="credential.saved")
    assert saved_entry.data == {
        "provider": "binance",
        "purpose": "live",
        "label": "default",
        "fields_set": ["api_key", "api_secret"],
        "created": True,
    }
    dumped = str(list(AuditEntry.objects.values()))
    assert BINANCE_SAVE["api_key"] not in dumped and BINANCE_SAVE["api_secret"] not in dumped


def test_keys_test_is_throttled(owner_client, settings):
    from core.throttles import ScopedRateThrottle

    rates = {**ScopedRateThrottle.THROTTLE_RATES, "keys_test": "3/min"}
    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = rates
    try:
        statuses = [owner_client.post("/api/keys/test", {"provider": "simulated"}).status_code for _ in range(4)]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original

    assert statuses == [200, 200, 200, 429]
