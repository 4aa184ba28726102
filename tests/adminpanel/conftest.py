"""Fixtures for the staff API and the admin pages."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.bots.factories import BotFactory
from tests.factories import StaffFactory


@pytest.fixture
def superuser(db):
    return StaffFactory(email="root@example.com", username="root", is_superuser=True)


@pytest.fixture
def site_client(superuser) -> Client:
    """The Django admin, logged in as a superuser (session auth)."""
    client = Client()
    client.force_login(superuser)
    client.user = superuser
    return client


@pytest.fixture
def running_bot(owner):
    return BotFactory(owner=owner, name="Runner", status="running")
