"""Signals in the admin: listed read-only, and no page shows a webhook's token or its ingredients."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from signals.models import Webhook
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def test_the_pages_list_signals_and_never_show_the_token(owner_client, api_client, signal_bot, webhook_url):
    api_client.post(webhook_url, data=json.dumps({"action": "buy"}), content_type="application/json")
    owner_client.post("/api/signals/providers", {"name": "TV", "bot_ids": [signal_bot.pk]}, format="json")
    webhook = Webhook.objects.get()
    token = webhook_url.rsplit("/", 1)[1]
    client = Client()
    client.force_login(StaffFactory(is_superuser=True))

    pages = [
        "/admin/signals/signal/",
        "/admin/signals/provider/",
        "/admin/signals/webhook/",
        f"/admin/signals/webhook/{webhook.pk}/change/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert token not in html and webhook.nonce not in html, page
    assert client.get("/admin/signals/signal/add/").status_code == 403
