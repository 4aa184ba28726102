"""No admin page and no staff endpoint shows a credential secret (a canary goes in and
must come out nowhere)."""

from __future__ import annotations

import pytest

from adminpanel.services import usage_reconcile
from credentials.models import Credential
from credentials.services import credential_save
from tests.bots.factories import BotFactory

pytestmark = pytest.mark.django_db

CANARY = "CANARY9d2e4f7a1bc3"


@pytest.fixture
def secret_bot(owner):
    credential = credential_save(
        user=owner,
        provider="binance",
        purpose="live",
        label="default",
        secrets={"api_key": f"{CANARY}-key-ABCD", "api_secret": f"{CANARY}-secret", "passphrase": f"{CANARY}-pp"},
    )
    bot = BotFactory(owner=owner, exchange="binance", trading_mode="live", credential=credential, status="running")
    usage_reconcile()
    return bot, credential


def test_no_admin_page_shows_a_secret(site_client, secret_bot):
    bot, credential = secret_bot
    site_client.post(f"/admin/bots/bot/{bot.pk}/override/", {"max_daily_trades": "2", "force_pause": "pause"})
    pages = [
        "/admin/",
        "/admin/resources/",
        "/admin/bots/bot/",
        f"/admin/bots/bot/{bot.pk}/change/",
        f"/admin/bots/bot/{bot.pk}/override/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{bot.owner_id}/change/",
        "/admin/accounts/auditentry/",
        "/admin/credentials/credential/",
        f"/admin/credentials/credential/{credential.pk}/change/",
    ]
    for url in pages:
        response = site_client.get(url)
        assert response.status_code == 200, url
        assert CANARY not in response.content.decode(), url
    for entry_url in [f"/admin/accounts/auditentry/{pk}/change/" for pk in _audit_ids()]:
        assert CANARY not in site_client.get(entry_url).content.decode()


def test_no_staff_endpoint_shows_a_secret(staff_client, secret_bot):
    bot, _credential = secret_bot
    staff_client.post(f"/api/admin/bots/{bot.pk}/override", {"force_pause": True}, format="json")
    for url in [
        "/api/admin/bots",
        "/api/admin/resources/users",
        "/api/admin/users",
        f"/api/admin/users?search={bot.owner.email}",
        "/api/admin/audit",
        "/api/admin/halt",
    ]:
        response = staff_client.get(url)
        assert response.status_code == 200, url
        assert CANARY not in response.content.decode(), url
    assert Credential.objects.get(pk=_credential.pk).secrets()["api_secret"] == f"{CANARY}-secret"


def _audit_ids() -> list[int]:
    from accounts.models import AuditEntry

    return list(AuditEntry.objects.values_list("pk", flat=True))
