"""Deliveries against local fakes at the HTTP level: each channel delivers; a receiver
that fails or hangs is retried and never holds the others up; bounded give-up; bursts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from notifications import dispatch
from notifications.models import Channel, Delivery
from notifications.tasks import sweep_task
from tests.envelope import assert_error
from tests.notifications.conftest import record

pytestmark = pytest.mark.django_db


def _webhook(owner_api, receiver, **extra) -> dict:
    body = owner_api.post(
        "/api/notifications/channels", {"kind": "webhook", "url": receiver.url + "/hook", **extra}, format="json"
    ).json()
    receiver.secret = body["secret"]
    return body["channel"]


def _due_now() -> None:
    """Time passes: every pending retry comes due (no sleeping in tests)."""
    Delivery.objects.filter(status="pending").update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_a_webhook_receives_the_event_signed_with_its_idempotency_key(owner_api, owner, receiver, start_cursor):
    channel = _webhook(owner_api, receiver)
    seq = record(owner, message="Bot 'Bot-1' paused by the bodyguard")
    sweep_task()
    [got] = receiver.wait_for(1)
    assert receiver.bad_signatures == []
    assert got["key"] == f"{seq}-{channel['id']}"
    assert got["body"]["type"] == "bot_paused" and got["body"]["count"] == 1
    assert got["body"]["events"][0]["seq"] == seq
    assert got["body"]["events"][0]["message"] == "Bot 'Bot-1' paused by the bodyguard"
    [row] = owner_api.get("/api/notifications/deliveries").json()["deliveries"]
    assert (row["status"], row["attempts"], row["idempotency_key"]) == ("delivered", 1, got["key"])


def test_events_of_types_a_channel_did_not_choose_or_of_other_users_are_not_sent(
    owner_api, owner, other_user, receiver, start_cursor
):
    _webhook(owner_api, receiver)
    record(owner, "trade_executed")  # not in the defaults
    record(other_user)  # not theirs
    sweep_task()
    assert not Delivery.objects.exists()


def test_e_mail_goes_to_a_verified_address_only(owner_api, owner, start_cursor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = owner_api.post(
            "/api/notifications/channels", {"kind": "email", "address": "alerts@example.com"}, format="json"
        ).json()
    channel = created["channel"]
    assert channel["verified"] is False
    [code_mail] = mail.outbox
    code = code_mail.body.split("code: ")[1].split()[0]
    record(owner)
    sweep_task()
    assert len(mail.outbox) == 1  # not verified: nothing sent
    assert_error(
        owner_api.post(f"/api/notifications/channels/{channel['id']}/verify", {"code": "WRONG"}, format="json"),
        400,
        "BAD_CODE",
    )
    verified = owner_api.post(f"/api/notifications/channels/{channel['id']}/verify", {"code": code}, format="json")
    assert verified.json()["channel"]["verified"] is True
    seq = record(owner, message="Bot 'Bot-1' paused")
    sweep_task()
    assert len(mail.outbox) == 2
    sent = mail.outbox[1]
    assert sent.to == ["alerts@example.com"] and "Bot 'Bot-1' paused" in sent.body
    assert sent.extra_headers["X-Botfleet-Idempotency-Key"] == f"{seq}-{channel['id']}"


def test_the_accounts_verified_address_needs_no_code(owner_api, owner):
    owner.is_verified = True
    owner.save(update_fields=["is_verified"])
    channel = owner_api.post("/api/notifications/channels", {"kind": "email"}, format="json").json()["channel"]
    assert channel["verified"] is True and channel["address"] == owner.email
    assert mail.outbox == []


def test_telegram_links_by_the_code_sent_to_the_bot_and_delivers(owner_api, owner, telegram, start_cursor):
    body = owner_api.post("/api/notifications/channels", {"kind": "telegram"}, format="json").json()
    channel, code = body["channel"], body["link_code"]
    link = f"/api/notifications/channels/{channel['id']}/link"
    assert_error(owner_api.post(link), 409, "LINK_CODE_NOT_RECEIVED")
    telegram.user_sends(chat_id=4242, text=f"/start {code}")
    linked = owner_api.post(link).json()["channel"]
    assert linked["verified"] is True and linked["telegram_linked"] is True
    record(owner, message="Bot 'Bot-1' paused")
    sweep_task()
    [sent] = telegram.wait_for(1)
    assert sent["chat_id"] == "4242" and "Bot 'Bot-1' paused" in sent["text"]


def test_linking_telegram_with_someone_elses_code_fails(owner_api, other_user, telegram):
    from notifications import services

    theirs, shown = services.channel_create(user=other_user, kind="telegram")
    mine = owner_api.post("/api/notifications/channels", {"kind": "telegram"}, format="json").json()["channel"]
    # The only message the bot got carries *their* code: it links their channel, never mine.
    telegram.user_sends(chat_id=777, text=shown["link_code"])
    assert_error(owner_api.post(f"/api/notifications/channels/{mine['id']}/link"), 409, "LINK_CODE_NOT_RECEIVED")
    assert Channel.objects.get(pk=mine["id"]).telegram_chat_id == ""
    # Read (and confirmed) by my attempt, their code linked theirs there and then: it was not
    # left for a later read that Telegram would never answer with it again.
    theirs.refresh_from_db()
    assert theirs.telegram_chat_id == "777" and theirs.verified_at is not None
    assert services.link_pending_telegram() == 0
    assert Channel.objects.get(pk=mine["id"]).verified_at is None


def test_a_code_behind_a_hundred_other_messages_still_links_and_what_was_read_is_confirmed(owner_api, telegram):
    """Telegram returns at most 100 unconfirmed updates, oldest first: a shared bot that never
    confirmed what it read would show every newer code to no one."""
    body = owner_api.post("/api/notifications/channels", {"kind": "telegram"}, format="json").json()
    for n in range(250):
        telegram.user_sends(chat_id=1000 + n, text=f"hello {n}")
    telegram.user_sends(chat_id=4242, text=f"/start {body['link_code']}")
    linked = owner_api.post(f"/api/notifications/channels/{body['channel']['id']}/link")
    assert linked.status_code == 200, linked.content
    assert Channel.objects.get(pk=body["channel"]["id"]).telegram_chat_id == "4242"
    assert telegram.updates == [] and telegram.confirmed_up_to == 252  # all 251 read, then confirmed


def test_the_sweep_links_every_pending_channel_of_the_bot_from_one_read(owner, other_user, telegram):
    from notifications import services

    mine, my_code = services.channel_create(user=owner, kind="telegram")
    theirs, their_code = services.channel_create(user=other_user, kind="telegram")
    telegram.user_sends(chat_id=11, text=f"/start {their_code['link_code']}")
    telegram.user_sends(chat_id=22, text=f"link {my_code['link_code']} please")
    assert services.link_pending_telegram() == 2
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.telegram_chat_id, theirs.telegram_chat_id) == ("22", "11")
    assert telegram.updates == []


def test_a_telegram_bot_token_of_the_users_own_is_stored_encrypted(owner_api, telegram, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    response = owner_api.post(
        "/api/notifications/channels", {"kind": "telegram", "bot_token": telegram.token}, format="json"
    )
    assert response.status_code == 201
    assert telegram.token not in response.content.decode()
    stored = Channel.objects.get()
    assert telegram.token not in stored.secret_sealed
    assert_error(
        owner_api.post("/api/notifications/channels", {"kind": "telegram"}, format="json"), 400, "VALIDATION_ERROR"
    )


def test_a_receiver_answering_500_is_retried_with_backoff_then_delivered(owner_api, owner, receiver, start_cursor):
    _webhook(owner_api, receiver)
    receiver.mode = "fail"
    seq = record(owner)
    sweep_task()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 1, 500)
    assert "HTTP 500" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now()  # backing off
    sweep_task()
    assert Delivery.objects.get().attempts == 1  # not due yet: not retried early
    _due_now()
    sweep_task()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 2)
    receiver.mode = "ok"
    _due_now()
    sweep_task()
    [got] = receiver.wait_for(1)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert got["key"] == f"{seq}-{delivery.channel_id}"


def test_the_backoff_doubles_up_to_its_ceiling(settings):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 5
    settings.NOTIFICATIONS_RETRY_MAX_SECONDS = 60
    delays = [dispatch.backoff(n) for n in (1, 2, 3, 4, 10)]
    assert 4.5 <= delays[0] <= 5.5 and 9 <= delays[1] <= 11 and 18 <= delays[2] <= 22
    assert delays[4] <= 66
    assert dispatch.backoff(1, retry_after=120) == 120


def test_a_hanging_receiver_times_out_and_the_others_are_delivered_in_the_same_run(
    owner_api, owner, receiver, settings, start_cursor
):
    from tests.fakes.notify import WebhookReceiver

    settings.NOTIFICATIONS_HTTP_TIMEOUT = 0.5
    healthy = WebhookReceiver().start()
    try:
        _webhook(owner_api, receiver)
        _webhook(owner_api, healthy)
        receiver.mode = "hang"
        record(owner)
        sweep_task()  # returns: the hang costs one timeout, not the worker
        healthy.wait_for(1)
        by_status = dict(Delivery.objects.values_list("status", "last_error").order_by("id"))
        assert set(Delivery.objects.values_list("status", flat=True)) == {"pending", "delivered"}
        stuck = Delivery.objects.get(status="pending")
        assert "did not answer in time" in stuck.last_error, by_status
    finally:
        healthy.stop()


def test_a_delivery_is_given_up_after_the_bounded_time_with_the_reason_kept(
    owner_api, owner, receiver, settings, start_cursor
):
    settings.NOTIFICATIONS_GIVE_UP_SECONDS = 60
    _webhook(owner_api, receiver)
    receiver.mode = "fail"
    record(owner)
    sweep_task()
    Delivery.objects.update(created_at=timezone.now() - timedelta(seconds=59))
    _due_now()
    sweep_task()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.failed_at is not None
    assert delivery.last_error.startswith("gave up after 2 attempts") and "HTTP 500" in delivery.last_error
    failed = owner_api.get("/api/notifications/deliveries?status=failed").json()["deliveries"]
    assert failed[0]["last_error"] == delivery.last_error


def test_a_permanent_refusal_fails_at_once(owner_api, owner, receiver, start_cursor):
    _webhook(owner_api, receiver)
    receiver.secret = "not-the-secret"  # the receiver refuses every signature: 401
    record(owner)
    sweep_task()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 1, 401)


def test_a_burst_of_fifty_trades_in_a_minute_is_two_messages_not_fifty(owner_api, owner, receiver, start_cursor):
    _webhook(owner_api, receiver, events=["trade_executed"])
    record(owner, "trade_executed")
    sweep_task()
    receiver.wait_for(1)  # the first is sent at once
    for _ in range(49):
        record(owner, "trade_executed")
        sweep_task()
    assert len(receiver.received) == 1  # the rest wait for the window's end, grouped
    grouped = Delivery.objects.get(status="pending")
    assert grouped.count == 49 and grouped.last_seq - grouped.event_seq == 48
    _due_now()
    sweep_task()
    second = receiver.wait_for(2)[1]
    assert second["body"]["count"] == 49 and len(second["body"]["events"]) == 49
    assert Delivery.objects.count() == 2


def test_the_test_button_sends_a_test_message(owner_api, receiver):
    channel = _webhook(owner_api, receiver)
    response = owner_api.post(f"/api/notifications/channels/{channel['id']}/test")
    assert response.status_code == 202
    sweep_task()
    [got] = receiver.wait_for(1)
    assert got["body"]["test"] is True and got["key"].startswith("test-")


def test_the_test_button_on_an_unverified_channel_is_a_409(owner_api):
    channel = owner_api.post(
        "/api/notifications/channels", {"kind": "email", "address": "x@example.com"}, format="json"
    ).json()["channel"]
    assert_error(owner_api.post(f"/api/notifications/channels/{channel['id']}/test"), 409, "CHANNEL_NOT_READY")


def test_staff_only_events_go_to_staff_and_the_ops_channel_not_to_users(
    owner_api, staff_api, owner, receiver, start_cursor
):
    from tests.fakes.notify import WebhookReceiver

    ops = WebhookReceiver().start()
    try:
        _webhook(owner_api, receiver)
        _webhook(staff_api, ops, ops=True)
        record(None, "bot_paused")  # a staff-only event
        sweep_task()
        ops.wait_for(1)
        assert receiver.received == []
    finally:
        ops.stop()


def test_a_claim_left_by_a_killed_worker_is_sent_again_with_the_same_key(owner_api, owner, receiver, start_cursor):
    _webhook(owner_api, receiver)
    seq = record(owner)
    dispatch.fanout()
    [(delivery_id, attempt)] = dispatch.claim_due(limit=10)  # claimed, then the worker died
    sweep_task()
    assert receiver.received == []  # the lease still holds
    Delivery.objects.filter(pk=delivery_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    sweep_task()
    [got] = receiver.wait_for(1)
    assert got["key"] == f"{seq}-{Delivery.objects.get().channel_id}"
    assert Delivery.objects.get().attempts == attempt + 1


def test_a_webhook_to_a_private_address_is_refused(owner_api, settings):
    settings.NOTIFICATIONS_ALLOW_PRIVATE_URLS = False
    for url in ("http://127.0.0.1:8000/x", "http://169.254.169.254/latest/meta-data", "http://10.0.0.5/hook"):
        response = owner_api.post("/api/notifications/channels", {"kind": "webhook", "url": url}, format="json")
        assert_error(response, 400, "VALIDATION_ERROR")
    assert not Channel.objects.exists()


def test_a_webhook_whose_host_turned_private_is_not_called(owner_api, owner, receiver, settings, start_cursor):
    channel = _webhook(owner_api, receiver)
    settings.NOTIFICATIONS_ALLOW_PRIVATE_URLS = False  # e.g. its DNS now points inside
    record(owner)
    sweep_task()
    delivery = Delivery.objects.get(channel_id=channel["id"])
    assert delivery.status == "failed" and "non-public address" in delivery.last_error
    assert receiver.attempts == 0


def test_the_telegram_bot_token_never_reaches_the_logs(owner_api, owner, telegram, caplog, start_cursor):
    body = owner_api.post("/api/notifications/channels", {"kind": "telegram"}, format="json").json()
    telegram.user_sends(chat_id=99, text=body["link_code"])
    owner_api.post(f"/api/notifications/channels/{body['channel']['id']}/link")
    record(owner)
    with caplog.at_level("DEBUG", logger="botfleet"):
        sweep_task()
    telegram.wait_for(1)
    assert telegram.token not in caplog.text
    import logging

    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


def test_events_joining_a_burst_a_worker_just_claimed_get_a_delivery_of_their_own(owner, start_cursor):
    channel = Channel.objects.create(user=owner, kind="webhook", url="https://h.example.com/x", events=[])
    common = {"channel": channel, "user": owner, "count": 1}
    burst = Delivery.objects.create(key=f"10-{channel.pk}", event_type="t", event_seq=10, last_seq=10, **common)
    unclaimed = Delivery.objects.create(key="20-x", event_type="u", event_seq=20, last_seq=20, **common)
    read_by_fanout = Delivery.objects.get(pk=burst.pk)
    dispatch.claim_due(limit=1)  # a worker claims the first between the fan-out's read and its write
    read_by_fanout.last_seq = 12
    unclaimed.last_seq = 21
    grown = {burst.pk: read_by_fanout, unclaimed.pk: unclaimed}
    [extra] = dispatch.grow_all(
        grown, {burst.pk: (11, 2), unclaimed.pk: (21, 1)}, now=timezone.now(), window=timedelta(seconds=60)
    )
    assert (extra.event_seq, extra.last_seq, extra.count, extra.key) == (11, 12, 2, f"11-{channel.pk}")
    claimed = Delivery.objects.get(pk=burst.pk)
    assert (claimed.last_seq, claimed.count) == (10, 1)  # the claimed copy is left as sent
    grew = Delivery.objects.get(pk=unclaimed.pk)
    assert (grew.last_seq, grew.count) == (21, 2)


def test_finished_deliveries_are_purged_with_the_events(owner, settings):
    channel = Channel.objects.create(user=owner, kind="webhook", url="https://h.example.com/x", events=[])
    old = timezone.now() - timedelta(days=settings.EVENT_RETENTION_DAYS + 1)
    Delivery.objects.create(channel=channel, user=owner, key="1-x", event_type="t", status="delivered", created_at=old)
    Delivery.objects.create(channel=channel, user=owner, key="2-x", event_type="t", status="pending", created_at=old)
    Delivery.objects.create(channel=channel, user=owner, key="3-x", event_type="t", status="failed")
    assert dispatch.deliveries_purge() == 1
    assert set(Delivery.objects.values_list("key", flat=True)) == {"2-x", "3-x"}


def test_one_batch_sends_at_a_time_so_hanging_receivers_hold_one_worker_slot_at_most(
    owner_api, owner, receiver, start_cursor
):
    from django.core.cache import cache

    _webhook(owner_api, receiver)
    record(owner)
    dispatch.fanout()
    cache.add(dispatch.SENDING_KEY, "another-worker", timeout=60)  # a batch is sending elsewhere
    assert dispatch.deliver_due() == 0
    assert Delivery.objects.get().status == "pending"
    cache.delete(dispatch.SENDING_KEY)  # that batch is done
    assert dispatch.deliver_due() == 1
    receiver.wait_for(1)
    assert cache.get(dispatch.SENDING_KEY) is None  # released


def test_a_code_sent_to_the_shared_bot_never_links_a_channel_with_its_own_bot(owner, other_user, telegram, caplog):
    """That bot could never write to the chat: the channel stays pending, and the shared bot's
    read goes on (the own bot's token, refused by Telegram, is logged without itself)."""
    from notifications import services

    own, shown = services.channel_create(user=owner, kind="telegram", bot_token="999:NOT-THE-SHARED-BOT")
    services.channel_create(user=other_user, kind="telegram")  # pending on the shared bot: it is read
    telegram.user_sends(chat_id=33, text=shown["link_code"])
    assert services.link_pending_telegram() == 0
    own.refresh_from_db()
    assert own.verified_at is None and own.telegram_chat_id == ""
    assert telegram.updates == [] and telegram.confirmed_up_to == 2  # read, and confirmed all the same
    assert "NOT-THE-SHARED-BOT" not in caplog.text
