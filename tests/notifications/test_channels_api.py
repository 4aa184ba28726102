"""notifications/channels through the API: create, list, change, delete, test; secrets shown once."""

from __future__ import annotations

import pytest

from notifications.models import Channel
from tests.envelope import assert_error
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_webhook_channel_shows_its_secret_once_and_never_again(owner_api):
    response = owner_api.post(
        "/api/notifications/channels",
        {"kind": "webhook", "url": "https://hooks.example.com/botfleet?token=abc", "name": "ops"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    channel = body["channel"]
    assert channel["verified"] is True and channel["kind"] == "webhook"
    assert "token=abc" not in str(channel)  # the query may hold a token of the receiver's
    stored = Channel.objects.get(pk=channel["id"])
    assert secret not in stored.secret_sealed

    listed = owner_api.get("/api/notifications/channels").json()
    assert listed["total"] == 1
    assert secret not in str(listed)
    assert "engine_offline" in listed["default_events"] and "trade_executed" not in listed["default_events"]
    detail = owner_api.get(f"/api/notifications/channels/{channel['id']}").json()
    assert secret not in str(detail)

    rotated = owner_api.patch(f"/api/notifications/channels/{channel['id']}", {"rotate_secret": True}, format="json")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (None, secret)


def test_defaults_are_the_important_events_not_every_trade(owner_api):
    channel = owner_api.post(
        "/api/notifications/channels", {"kind": "webhook", "url": "https://h.example.com/x"}, format="json"
    ).json()["channel"]
    assert {"bot_paused", "training_eligible", "bot_promoted", "engine_offline"} <= set(channel["events"])
    assert "trade_executed" not in channel["events"]
    changed = owner_api.patch(
        f"/api/notifications/channels/{channel['id']}", {"events": ["trade_executed"]}, format="json"
    )
    assert changed.json()["channel"]["events"] == ["trade_executed"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "pigeon"}, "kind"),
        ({"kind": "webhook"}, "url"),
        ({"kind": "webhook", "url": "ftp://example.com/x"}, "url"),
        ({"kind": "webhook", "url": "https://h.example.com", "events": ["no_such_event"]}, "events"),
        ({"kind": "email", "address": "not-an-address"}, "address"),
    ],
)
def test_bad_channels_are_a_400_naming_the_field(owner_api, body, field):
    response = owner_api.post("/api/notifications/channels", body, format="json")
    error = assert_error(response, 400, response.json()["error"]["code"])
    assert field in str(error["details"])
    assert not Channel.objects.exists()


def test_only_staff_choose_the_ops_channel(owner_api, staff_api):
    body = {"kind": "webhook", "url": "https://h.example.com/x", "ops": True}
    assert_error(owner_api.post("/api/notifications/channels", body, format="json"), 403, "STAFF_ONLY")
    first = staff_api.post("/api/notifications/channels", body, format="json").json()["channel"]
    assert first["ops"] is True and "event_undeliverable" in first["events"]
    second = staff_api.post("/api/notifications/channels", body, format="json").json()["channel"]
    assert Channel.objects.get(is_ops=True).pk == second["id"]  # one fleet-wide ops channel


def test_another_users_channels_are_404(owner_api, other_user):
    theirs = Channel.objects.create(user=other_user, kind="webhook", url="https://h.example.com/x", events=[])
    base = f"/api/notifications/channels/{theirs.pk}"
    assert_error(owner_api.get(base), 404, "NOT_FOUND")
    assert_error(owner_api.patch(base, {"name": "mine"}, format="json"), 404, "NOT_FOUND")
    assert_error(owner_api.delete(base), 404, "NOT_FOUND")
    assert_error(owner_api.post(f"{base}/test"), 404, "NOT_FOUND")
    assert_error(owner_api.post(f"{base}/link"), 404, "NOT_FOUND")
    assert_error(owner_api.get(f"/api/notifications/deliveries?channel_id={theirs.pk}"), 404, "NOT_FOUND")
    theirs.refresh_from_db()
    assert theirs.name == ""


def test_anonymous_is_401(api):
    assert api.get("/api/notifications/channels").status_code == 401
    assert api.get("/api/notifications/deliveries").status_code == 401


def test_delete_removes_the_channel(owner_api):
    channel = owner_api.post(
        "/api/notifications/channels", {"kind": "webhook", "url": "https://h.example.com/x"}, format="json"
    ).json()["channel"]
    assert owner_api.delete(f"/api/notifications/channels/{channel['id']}").status_code == 200
    assert not Channel.objects.exists()


def test_the_deliveries_list_costs_a_fixed_number_of_queries(owner_api, owner, django_assert_max_num_queries):
    from notifications.models import Delivery

    channel = Channel.objects.create(user=owner, kind="webhook", url="https://h.example.com/x", events=[])
    Delivery.objects.bulk_create(
        [Delivery(channel=channel, user=owner, key=f"{n}-{channel.pk}", event_type="bot_paused") for n in range(30)]
    )
    UserFactory()
    with django_assert_max_num_queries(8):
        body = owner_api.get("/api/notifications/deliveries?status=pending").json()
    assert body["total"] == 30 and len(body["deliveries"]) == 30
