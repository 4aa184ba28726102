"""Channel use cases: create, change, delete, verify an address, link a Telegram chat, test.

Each runs in one transaction and raises ``core.errors``; no network call is made while
a transaction is open (Telegram's updates are read first, then the row is changed).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.services import audit_record
from core.errors import Conflict, Forbidden, Invalid, NotFound
from notifications import conf, secrets, senders
from notifications.models import Channel, Delivery
from realtime import registry

logger = logging.getLogger("botfleet.notifications")

# Sensible defaults (the issue): pauses, errors, eligibility, promotion, halts, engine
# offline — not every trade. Filtered by what is registered.
DEFAULT_EVENTS = (
    "bot_paused",
    "bot_stopped",
    "order_reconcile_failed",
    "training_eligible",
    "bot_promoted",
    "fleet_halted",
    "fleet_resumed",
    "engine_offline",
    "engine_online",
)
OPS_EVENTS = ("engine_offline", "engine_online", "fleet_halted", "fleet_resumed", "event_undeliverable")


class FieldInvalid(Invalid):
    """A field's value is refused: the same code as the serializers' field errors."""

    default_code = "VALIDATION_ERROR"


def registered_types() -> set[str]:
    return {t.name for t in registry.all_types()}


def default_events(*, ops: bool = False) -> list[str]:
    known = registered_types()
    wanted = (*DEFAULT_EVENTS, *OPS_EVENTS) if ops else DEFAULT_EVENTS
    return [name for name in dict.fromkeys(wanted) if name in known]


def _check_events(events) -> list[str]:
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise FieldInvalid("events must be a list of event type names.", details={"events": ["a list of strings"]})
    unknown = sorted(set(events) - registered_types())
    if unknown:
        raise FieldInvalid(
            f"Unknown event types: {', '.join(unknown[:10])}.",
            details={"events": [f"unknown: {', '.join(unknown[:10])}"], "allowed": sorted(registered_types())},
        )
    return list(dict.fromkeys(events))


def channel_get(*, user, channel_id: int, lock: bool = False) -> Channel:
    rows = Channel.objects.select_for_update() if lock else Channel.objects
    channel = rows.filter(pk=channel_id, user=user).first()
    if channel is None:
        raise NotFound("No such channel.")
    return channel


def _audit(user, action: str, channel: Channel, **details) -> None:
    audit_record(actor=user, action=action, target=channel, data={"kind": channel.kind, **details})


def _new_code(channel: Channel) -> str:
    code = secrets.new_code()
    channel.code_hash = secrets.code_hash(code)
    channel.code_expires_at = timezone.now() + timedelta(seconds=int(conf.get("NOTIFICATIONS_CODE_TTL_SECONDS")))
    return code


def channel_create(
    *,
    user,
    kind: str,
    name: str = "",
    events: list[str] | None = None,
    url: str = "",
    address: str = "",
    bot_token: str = "",
    ops: bool = False,
) -> tuple[Channel, dict]:
    """Returns the channel and what is shown once (``secret``, ``link_code``)."""
    if kind not in Channel.Kind.values:
        raise FieldInvalid("kind must be email, telegram or webhook.", details={"kind": ["email, telegram or webhook"]})
    if ops and not user.is_staff:
        raise Forbidden("Only staff choose the operations channel.", code="STAFF_ONLY")
    events = default_events(ops=ops) if events is None else _check_events(events)
    channel = Channel(user=user, kind=kind, name=name or kind, events=events, is_ops=ops)
    shown: dict = {}
    if kind == Channel.Kind.WEBHOOK:
        if not url:
            raise FieldInvalid("A webhook needs a url.", details={"url": ["required for a webhook"]})
        channel.url = _public_url(url)
        secret = secrets.new_secret()
        channel.secret_sealed = secrets.seal(secret)
        channel.verified_at = timezone.now()
        shown["secret"] = secret
    elif kind == Channel.Kind.TELEGRAM:
        if not bot_token and not getattr(settings, "TELEGRAM_BOT_TOKEN", ""):
            raise FieldInvalid(
                "This server has no Telegram bot: give your own bot's bot_token.",
                details={"bot_token": ["required (no TELEGRAM_BOT_TOKEN on this server)"]},
            )
        channel.secret_sealed = secrets.seal(bot_token)
        shown["link_code"] = _new_code(channel)
    else:
        address = (address or user.email).strip()
        if not address:
            raise FieldInvalid("An e-mail channel needs an address.", details={"address": ["required"]})
        channel.address = address
        if address.lower() == (user.email or "").lower() and user.is_verified:
            channel.verified_at = timezone.now()
        else:
            shown["verification"] = "sent"
            code = _new_code(channel)
    with transaction.atomic():
        most = int(conf.get("NOTIFICATIONS_MAX_CHANNELS"))
        if Channel.objects.select_for_update().filter(user=user).count() >= most:
            raise Conflict(f"At most {most} channels per user.", code="TOO_MANY_CHANNELS")
        if ops:
            Channel.objects.filter(is_ops=True).update(is_ops=False)
        channel.save()
        _audit(user, "notifications.channel_created", channel, ops=ops)
        if shown.get("verification"):
            transaction.on_commit(lambda: _mail_code(channel, code))
    return channel, shown


def _mail_code(channel: Channel, code: str) -> None:
    try:
        senders.send_email(
            address=channel.address,
            subject="[Botfleet] Confirm this address for notifications",
            text=f"Your Botfleet verification code: {code}\n\nIt expires in an hour. "
            "If you did not ask for it, ignore this message.",
            key=f"verify-{channel.pk}",
        )
    except senders.SendFailed as exc:
        logger.warning("verification code for channel %s not mailed: %s", channel.pk, exc.reason)


def channel_update(*, user, channel_id: int, changes: dict) -> tuple[Channel, dict]:
    shown: dict = {}
    with transaction.atomic():
        channel = channel_get(user=user, channel_id=channel_id, lock=True)
        if "events" in changes:
            channel.events = _check_events(changes["events"])
        if "name" in changes:
            channel.name = changes["name"] or channel.kind
        if "enabled" in changes:
            channel.enabled = bool(changes["enabled"])
        if "url" in changes:
            if channel.kind != Channel.Kind.WEBHOOK:
                raise FieldInvalid("Only a webhook has a url.", details={"url": ["webhooks only"]})
            if not changes["url"]:
                raise FieldInvalid("A webhook needs a url.", details={"url": ["may not be empty"]})
            channel.url = _public_url(changes["url"])
        if changes.get("rotate_secret"):
            if channel.kind != Channel.Kind.WEBHOOK:
                raise FieldInvalid("Only a webhook has a signing secret.", details={"rotate_secret": ["webhooks only"]})
            secret = secrets.new_secret()
            channel.secret_sealed = secrets.seal(secret)
            shown["secret"] = secret
        if changes.get("new_link_code"):
            if channel.kind != Channel.Kind.TELEGRAM:
                raise FieldInvalid("Only Telegram channels are linked.", details={"new_link_code": ["telegram only"]})
            shown["link_code"] = _new_code(channel)
        if "ops" in changes:
            if not user.is_staff:
                raise Forbidden("Only staff choose the operations channel.", code="STAFF_ONLY")
            if changes["ops"]:
                Channel.objects.filter(is_ops=True).exclude(pk=channel.pk).update(is_ops=False)
            channel.is_ops = bool(changes["ops"])
        channel.save()
        _audit(user, "notifications.channel_updated", channel, changed=sorted(changes))
    return channel, shown


def _public_url(url: str) -> str:
    blocked = senders.private_address(url)
    if blocked:
        raise FieldInvalid(
            f"The webhook's host resolves to a non-public address ({blocked}).",
            details={"url": ["must reach a public address"]},
        )
    return url


def channel_delete(*, user, channel_id: int) -> Channel:
    with transaction.atomic():
        channel = channel_get(user=user, channel_id=channel_id, lock=True)
        _audit(user, "notifications.channel_deleted", channel)
        channel.delete()
    return channel


def channels_erase_for_leaver(user) -> None:
    """A user who leaves (``accounts.hooks``): every channel of theirs, and its secrets, goes.

    Runs inside the account-closing transaction; their deliveries go with the channels.
    """
    for channel in Channel.objects.select_for_update().filter(user=user):
        _audit(user, "notifications.channel_erased", channel)
        channel.delete()


def _code_matches(channel: Channel, code: str) -> bool:
    return bool(
        channel.code_hash
        and channel.code_expires_at
        and channel.code_expires_at > timezone.now()
        and secrets.code_hash(code) == channel.code_hash
    )


def channel_verify(*, user, channel_id: int, code: str) -> Channel:
    """Confirm an e-mail address with the code mailed to it."""
    with transaction.atomic():
        channel = channel_get(user=user, channel_id=channel_id, lock=True)
        if channel.kind != Channel.Kind.EMAIL:
            raise FieldInvalid("Only e-mail channels are verified with a code.", details={"code": ["e-mail only"]})
        if channel.verified_at is None:
            if not _code_matches(channel, code or ""):
                raise FieldInvalid("Wrong or expired code.", code="BAD_CODE", details={"code": ["wrong or expired"]})
            channel.verified_at = timezone.now()
            channel.code_hash, channel.code_expires_at = "", None
            channel.save(update_fields=["verified_at", "code_hash", "code_expires_at", "updated_at"])
    return channel


def channel_link(*, user, channel_id: int) -> Channel:
    """Link a Telegram channel to the chat that sent the bot *this channel's* code.

    The code is shown only to the channel's owner, so a chat is linked only by someone
    holding it: a chat that sent another channel's code never links this one (it links
    that one, as the sweep would).
    """
    channel = channel_get(user=user, channel_id=channel_id)
    if channel.kind != Channel.Kind.TELEGRAM:
        raise FieldInvalid("Only Telegram channels are linked.", code="NOT_TELEGRAM")
    if channel.verified_at is not None:
        return channel
    if not channel.code_expires_at or channel.code_expires_at <= timezone.now():
        raise Conflict("The link code expired: ask for a new one (new_link_code).", code="LINK_CODE_EXPIRED")
    try:
        _telegram_read(_bot_token(channel.secret_sealed))
    except senders.SendFailed as exc:
        raise Conflict(f"Telegram could not be asked: {exc.reason}", code="TELEGRAM_UNAVAILABLE") from None
    channel = channel_get(user=user, channel_id=channel_id)
    if channel.verified_at is None:
        raise Conflict(
            "The bot has not received this channel's code yet: send it to the bot, then try again.",
            code="LINK_CODE_NOT_RECEIVED",
        )
    return channel


def _bot_token(sealed: str) -> str:
    """The bot a Telegram channel uses (its ``secret_sealed``): the user's own, else the shared one."""
    return secrets.unseal(sealed) or getattr(settings, "TELEGRAM_BOT_TOKEN", "")


def _pending_telegram():
    return Channel.objects.filter(
        kind=Channel.Kind.TELEGRAM, verified_at__isnull=True, code_expires_at__gt=timezone.now()
    ).select_related("user")


TELEGRAM_READ_ROUNDS = 10  # of at most 100 updates each: a poll never runs on unbounded


def _telegram_read(token: str) -> int:
    """Read what ``token``'s bot received, link every pending channel of that bot whose code is
    in it, and confirm what was read; returns the channels linked.

    Telegram answers ``getUpdates`` with at most 100 *unconfirmed* updates, oldest first, and
    keeps them a day: left unconfirmed, a busy shared bot's first hundred messages would hide
    every newer code. A read is confirmed (``offset`` past it) only after it was acted on, so a
    poller cut off in between leaves it for the next one; every pending channel of the bot is
    matched against each read, since a confirmed update is never returned again.
    """
    linked, offset = 0, None
    for _ in range(TELEGRAM_READ_ROUNDS):
        updates = senders.telegram_updates(token=token, offset=offset)  # confirms what came before offset
        ids = [u["update_id"] for u in updates if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
        if not ids:
            break
        linked += _link_codes(token, _chats_by_code(updates))
        offset = max(ids) + 1
    return linked


def _chats_by_code(updates: list[dict]) -> dict[str, str]:
    """``{code hash: chat id}`` of the words that could be a code in each message (the first sender wins)."""
    chats: dict[str, str] = {}
    for update in updates:
        message = update.get("message") if isinstance(update, dict) else None
        if not isinstance(message, dict):
            continue
        chat = message.get("chat") or {}
        if not isinstance(chat, dict) or chat.get("id") is None:
            continue
        for word in str(message.get("text", "")).replace("/start", " ").split()[:3]:
            chats.setdefault(secrets.code_hash(word), str(chat["id"]))
    return chats


def _link_codes(token: str, chats: dict[str, str]) -> int:
    linked = 0
    for channel in _pending_telegram().filter(code_hash__in=list(chats)):
        try:
            if _bot_token(channel.secret_sealed) != token:
                continue  # its code went to another bot, which could never write to that chat
        except secrets.SecretUnreadable:
            continue
        with transaction.atomic():
            locked = Channel.objects.select_for_update().filter(pk=channel.pk, verified_at__isnull=True).first()
            if locked is None or locked.code_hash != channel.code_hash:
                continue  # linked meanwhile, or a new code asked for since
            locked.telegram_chat_id = chats[locked.code_hash]
            locked.verified_at = timezone.now()
            locked.code_hash, locked.code_expires_at = "", None
            locked.save()
            _audit(channel.user, "notifications.telegram_linked", locked)
        linked += 1
    return linked


def link_pending_telegram() -> int:
    """The sweep's part: read each bot that a pending Telegram channel waits on, once (the
    shared bot, and up to 50 of users' own, the codes expiring soonest first)."""
    tokens = set()
    sealed = _pending_telegram().order_by("code_expires_at").values_list("secret_sealed", flat=True)
    for value in list(dict.fromkeys(sealed))[:51]:
        try:
            tokens.add(_bot_token(value))
        except secrets.SecretUnreadable:
            continue
    linked = 0
    for token in tokens - {""}:
        try:
            linked += _telegram_read(token)
        except senders.SendFailed as exc:
            logger.warning("Telegram updates could not be read (%s)", exc.reason)
    return linked


def channel_test(*, user, channel_id: int) -> Delivery:
    """Queue a test message (sent by a worker like any other, so it is retried too)."""
    with transaction.atomic():
        channel = channel_get(user=user, channel_id=channel_id)
        if not channel.ready:
            raise Conflict(
                "This channel is not ready: "
                + ("it is disabled." if not channel.enabled else "verify or link it first."),
                code="CHANNEL_NOT_READY",
            )
        import uuid

        delivery = Delivery.objects.create(
            channel=channel, user=user, key=f"test-{uuid.uuid4().hex}", event_type="test"
        )
        transaction.on_commit(_queue_send)
    return delivery


def _queue_send() -> None:
    from notifications.tasks import deliver_task

    try:
        deliver_task.delay()
    except Exception as exc:  # the broker is down: the sweep sends it
        logger.warning("could not queue a notifications send (%s); the sweep will", exc.__class__.__name__)
