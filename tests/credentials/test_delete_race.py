"""Two interleaved ``DELETE keys/{id}`` (issue 16, item 16): one deletes, the other is a 404.

Before, the row lock was taken outside any transaction (released at once), so both
requests went on to "delete" it: two 200s, two audit entries, the usage counter one off.
The interleaving is forced: the test holds the row lock until both requests wait on it.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from accounts.models import AuditEntry, UserUsage
from credentials.models import Credential
from tests.conftest import bearer_client
from tests.credentials.helpers import BINANCE_SAVE

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL keeps the first snapshot of its statistics views.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_two_interleaved_deletes_delete_once(owner):
    client = bearer_client(owner)
    response = client.post("/api/keys/save", BINANCE_SAVE, format="json")
    assert response.status_code == 201
    credential_id = response.json()["credential"]["id"]
    assert UserUsage.objects.get(user=owner).credentials == 1
    statuses: list[int] = []

    def delete():
        try:
            statuses.append(bearer_client(owner).delete(f"/api/keys/{credential_id}").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=delete) for _ in range(2)]
    with transaction.atomic():
        Credential.objects.select_for_update().get(pk=credential_id)  # both requests will queue behind this
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while _waiting_on_locks() < 2:
            assert time.monotonic() < deadline, "the two deletes never reached the row lock"
            time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(statuses) == [200, 404]
    assert not Credential.objects.filter(pk=credential_id).exists()
    assert AuditEntry.objects.filter(action="credential.deleted").count() == 1
    assert UserUsage.objects.get(user=owner).credentials == 0
