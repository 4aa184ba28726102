"""From the event table to receivers: fan-out, claims, attempts, retries.

1. **Fan-out** (``fanout``). The relay numbers committed events (``seq``) in commit
   order; a cursor (``FanoutState.last_seq``) walks them, so every event is considered
   once and none is skipped, whichever process runs it. An event goes to its user's
   ready channels that chose its type; a staff-only event to staff's channels and the
   ops channel. Bursts are grouped per (channel, type): the first event of a window is
   sent at once; the next ones within ``NOTIFICATIONS_GROUP_SECONDS`` join one pending
   delivery sent at the window's end (50 trades in a minute → 2 messages, not 50).
2. **Claim** (``claim_due``). A conditional UPDATE sets ``sending`` with a lease and counts
   the attempt; a killed worker's claim expires and the row is claimed again.
3. **Attempt** (``deliver_due``). Requests go out on a thread pool with no transaction
   open and bounded timeouts; the ORM stays on the calling thread.
4. **Record** (``_record``): only while the claim is still ours (same attempt number):
   delivered, or back to pending with exponential backoff, or failed for good with the
   reason (a permanent refusal, or ``NOTIFICATIONS_GIVE_UP_SECONDS`` passed).

At least once: a worker killed after the receiver got the message but before
recording it sends again, with the same ``Idempotency-Key``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from notifications import conf, messages, secrets, senders
from notifications.models import Channel, Delivery, FanoutState
from realtime.models import Event

logger = logging.getLogger("botfleet.notifications")


# -- fan-out -------------------------------------------------------------------------------
def _state() -> FanoutState:
    """The cursor, locked. Created at the newest ``seq``: history is not sent on first run."""
    state = FanoutState.objects.select_for_update().filter(pk=FanoutState.SINGLETON_ID).first()
    if state is None:
        top = Event.objects.aggregate(top=Max("seq"))["top"] or 0
        FanoutState.objects.bulk_create([FanoutState(pk=FanoutState.SINGLETON_ID, last_seq=top)], ignore_conflicts=True)
        state = FanoutState.objects.select_for_update().get(pk=FanoutState.SINGLETON_ID)
    return state


def _recipients(events: list[dict]) -> dict[int | None, list[Channel]]:
    """Ready channels per audience: ``{user_id: [...], None: staff's and the ops channel}``."""
    user_ids = {e["user_id"] for e in events if e["user_id"] is not None}
    wanted = Q(user_id__in=user_ids)
    if any(e["user_id"] is None for e in events):
        wanted |= Q(user__is_staff=True) | Q(is_ops=True)
    channels = Channel.objects.filter(wanted, enabled=True, verified_at__isnull=False, user__is_active=True).only(
        "id", "user_id", "events", "is_ops", "user__is_staff"
    )
    by_audience: dict[int | None, list[Channel]] = {}
    for channel in channels.select_related("user"):
        if channel.user_id in user_ids:
            by_audience.setdefault(channel.user_id, []).append(channel)
        if channel.user.is_staff or channel.is_ops:
            by_audience.setdefault(None, []).append(channel)
    return by_audience


def fanout(*, limit: int = 2000) -> int:
    """Create the deliveries of events published since the cursor; returns how many events."""
    with transaction.atomic():
        state = _state()
        events = list(
            Event.objects.filter(seq__gt=state.last_seq, failed_at__isnull=True)
            .order_by("seq")
            .values("seq", "type", "user_id")[:limit]
        )
        if not events:
            return 0
        _fan(events, _recipients(events))
        state.last_seq = events[-1]["seq"]
        state.save(update_fields=["last_seq", "updated_at"])
    return len(events)


def _fan(events: list[dict], recipients: dict[int | None, list[Channel]]) -> None:
    now = timezone.now()
    window = timedelta(seconds=float(conf.get("NOTIFICATIONS_GROUP_SECONDS")))
    pairs = {
        (channel.pk, e["type"])
        for e in events
        for channel in recipients.get(e["user_id"], ())
        if e["type"] in channel.events
    }
    if not pairs:
        return
    latest: dict[tuple[int, str], Delivery] = {}
    if window:
        recent = (
            Delivery.objects.filter(
                channel_id__in={c for c, _ in pairs}, created_at__gte=now - window, event_seq__isnull=False
            )
            .only("id", "channel_id", "user_id", "event_type", "status", "attempts", "created_at", "last_seq", "count")
            .order_by("-id")
        )
        for delivery in recent:
            latest.setdefault((delivery.channel_id, delivery.event_type), delivery)
    new: list[Delivery] = []
    grown: dict[int, Delivery] = {}
    added: dict[int, tuple[int, int]] = {}  # a growing burst's first seq and count in this batch
    users = {c.pk: c.user_id for channels in recipients.values() for c in channels}
    for event in events:
        for channel in recipients.get(event["user_id"], ()):
            pair = (channel.pk, event["type"])
            if pair not in pairs:
                continue
            last = latest.get(pair)
            if last is not None and last.status == Delivery.Status.PENDING and last.attempts == 0 and window:
                if last.pk:  # joins a burst not yet sent
                    first, count = added.get(last.pk, (event["seq"], 0))
                    added[last.pk] = (first, count + 1)
                    grown[last.pk] = last
                last.last_seq, last.count = event["seq"], last.count + 1
                continue
            due = max(now, last.created_at + window) if last is not None else now
            delivery = Delivery(
                channel_id=channel.pk,
                user_id=users[channel.pk],
                key=f"{event['seq']}-{channel.pk}",
                event_type=event["type"],
                event_seq=event["seq"],
                last_seq=event["seq"],
                count=1,
                next_attempt_at=due,
                created_at=now,
            )
            new.append(delivery)
            latest[pair] = delivery
    new += grow_all(grown, added, now=now, window=window)
    # ignore_conflicts: a key that exists was fanned out already (nothing is sent twice by us).
    Delivery.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)


def grow_all(grown: dict[int, Delivery], added: dict[int, tuple[int, int]], *, now, window: timedelta):
    """Move the bursts' ``last_seq`` (one UPDATE per distinct growth, usually one for every
    channel), only for those still unsent: locked here, a worker cannot claim them before
    we commit. A burst a worker claimed meanwhile is sent as it read it; the events it
    gained get a delivery of their own (returned, to be created), so none is lost."""
    if not grown:
        return []
    unsent = set(
        Delivery.objects.select_for_update()
        .filter(pk__in=list(grown), status=Delivery.Status.PENDING, attempts=0)
        .values_list("pk", flat=True)
    )
    by_growth: dict[tuple[int, int], list[int]] = {}
    for pk in unsent:
        by_growth.setdefault((grown[pk].last_seq, added[pk][1]), []).append(pk)
    for (last_seq, count), pks in by_growth.items():
        Delivery.objects.filter(pk__in=pks).update(last_seq=last_seq, count=F("count") + count)
    return [_split(grown[pk], *added[pk], now=now, window=window) for pk in sorted(set(grown) - unsent)]


def _split(delivery: Delivery, first: int, count: int, *, now, window: timedelta) -> Delivery:
    return Delivery(
        channel_id=delivery.channel_id,
        user_id=delivery.user_id,
        key=f"{first}-{delivery.channel_id}",
        event_type=delivery.event_type,
        event_seq=first,
        last_seq=delivery.last_seq,
        count=count,
        next_attempt_at=max(now, delivery.created_at + window),
        created_at=now,
    )


# -- claims --------------------------------------------------------------------------------
def _due(now=None):
    now = now or timezone.now()
    return Delivery.objects.filter(
        Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        | Q(status=Delivery.Status.SENDING, lease_until__lt=now)
    )


def claim_due(*, limit: int, event_types: list[str] | None = None) -> list[tuple[int, int]]:
    """Claim up to ``limit`` due deliveries; returns ``[(id, attempt number)]``."""
    now = timezone.now()
    lease = timedelta(seconds=lease_seconds(limit))
    with transaction.atomic():
        rows = _due(now)
        if event_types is not None:
            rows = rows.filter(event_type__in=event_types)
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        ids = list(rows.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])
        if not ids:
            return []
        Delivery.objects.filter(pk__in=ids).update(
            status=Delivery.Status.SENDING, lease_until=now + lease, attempts=F("attempts") + 1
        )
        Delivery.objects.filter(pk__in=ids, first_attempt_at__isnull=True).update(first_attempt_at=now)
        return list(Delivery.objects.filter(pk__in=ids).values_list("id", "attempts"))


def lease_seconds(limit: int) -> float:
    """Longer than the batch can take with every receiver hanging (rounds of senders, each
    a connect and a read timeout, with room for a slow machine): a claim must not expire
    while its worker still sends, or a second worker sends the same rows again."""
    senders_ = max(1, int(conf.get("NOTIFICATIONS_SENDERS")))
    rounds = -(-limit // senders_)
    per_request = float(conf.get("NOTIFICATIONS_HTTP_TIMEOUT")) * 2
    return max(float(conf.get("NOTIFICATIONS_LEASE_SECONDS")), rounds * per_request * 1.5)


# -- attempts ------------------------------------------------------------------------------
@dataclass
class _Job:
    delivery_id: int
    attempt: int
    send: object  # a callable doing the network call, or None
    error: senders.SendFailed | None = None
    status: int | None = None


SENDING_KEY = "notifications:sending"


def deliver_due(*, limit: int | None = None, event_types: list[str] | None = None) -> int:
    """Claim, send and record one batch; returns how many were attempted.

    One sending batch at a time across the fleet (a lock in the shared cache, held no
    longer than a lease): receivers that hang hold at most one worker slot, never the
    pool bots tick on. Beat's rescue of the engine alerts (``event_types``) runs only
    while no worker does, and skips the lock.
    """
    limit = limit or int(conf.get("NOTIFICATIONS_BATCH"))
    if event_types is not None:
        return _deliver(limit, event_types)
    sent = 0
    for _ in range(2):
        sent += _drain(limit)
        # Work made while we released the lock (a fan-out that found it taken) is not left
        # for the sweep: look once more.
        if not _due().exists():
            break
    return sent


def _drain(limit: int) -> int:
    """Holding the lock, send batches while any is due, for at most about a lease."""
    lease = lease_seconds(limit)
    token = uuid.uuid4().hex
    if not cache.add(SENDING_KEY, token, timeout=lease):
        return 0  # another worker is sending: it drains what is due, this one too
    sent, started = 0, time.monotonic()
    try:
        while time.monotonic() - started < lease / 3:
            cache.set(SENDING_KEY, token, timeout=lease)  # ours: renewed for the next batch
            done = _deliver(limit, None)
            sent += done
            if not done:  # nothing due any more (what came due meanwhile was taken above)
                break
    finally:
        if cache.get(SENDING_KEY) == token:
            cache.delete(SENDING_KEY)
    return sent


def _deliver(limit: int, event_types: list[str] | None) -> int:
    claimed = claim_due(limit=limit, event_types=event_types)
    if not claimed:
        return 0
    jobs = _prepare(claimed)
    sendable = [job for job in jobs if job.send is not None]
    if sendable:
        workers = min(len(sendable), int(conf.get("NOTIFICATIONS_SENDERS")))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notify-send") as pool:
            list(pool.map(_run, sendable))
    for job in jobs:
        _record(job)
    return len(jobs)


def _run(job: _Job) -> None:
    try:
        job.status = job.send()
    except senders.SendFailed as exc:
        job.error = exc
    except Exception as exc:  # a sender bug is this delivery's failure, not the batch's
        logger.exception("notification delivery %s: unexpected error", job.delivery_id)
        job.error = senders.Retryable(f"internal error ({exc.__class__.__name__})")


def _prepare(claimed: list[tuple[int, int]]) -> list[_Job]:
    attempts = dict(claimed)
    deliveries = Delivery.objects.filter(pk__in=attempts).select_related("channel", "user")
    jobs = []
    for delivery in deliveries:
        job = _Job(delivery.pk, attempts[delivery.pk], None)
        try:
            job.send = _sender(delivery, messages.events_of(delivery))
        except senders.SendFailed as exc:
            job.error = exc
        except secrets.SecretUnreadable as exc:
            job.error = senders.Permanent(str(exc))
        jobs.append(job)
    return jobs


def _sender(delivery: Delivery, carried: list[dict]):
    channel = delivery.channel
    if not channel.ready or not delivery.user.is_active:
        raise senders.Permanent("the channel is disabled or not verified")
    if delivery.event_seq is not None and not carried:
        raise senders.Permanent("the events were purged before they could be sent")
    if channel.kind == Channel.Kind.WEBHOOK:
        document = messages.webhook_document(delivery, carried)
        secret = secrets.unseal(channel.secret_sealed)
        return lambda: senders.send_webhook(url=channel.url, secret=secret, document=document, key=delivery.key)
    subject, text = messages.text(delivery, carried)
    if channel.kind == Channel.Kind.TELEGRAM:
        token = secrets.unseal(channel.secret_sealed) or getattr(settings, "TELEGRAM_BOT_TOKEN", "")
        return lambda: senders.send_telegram(token=token, chat_id=channel.telegram_chat_id, text=text)

    def mail():
        senders.send_email(address=channel.address, subject=subject, text=text, key=delivery.key)
        return None

    return mail


def backoff(attempt: int, retry_after: float | None = None) -> float:
    base = float(conf.get("NOTIFICATIONS_RETRY_BASE_SECONDS"))
    delay = min(base * 2 ** max(attempt - 1, 0), float(conf.get("NOTIFICATIONS_RETRY_MAX_SECONDS")))
    delay *= random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not a secret; receivers coming back are not hit by every retry at once
    return max(delay, retry_after or 0.0)


def _record(job: _Job) -> None:
    now = timezone.now()
    ours = Delivery.objects.filter(pk=job.delivery_id, status=Delivery.Status.SENDING, attempts=job.attempt)
    if job.error is None:
        ours.update(
            status=Delivery.Status.DELIVERED,
            delivered_at=now,
            lease_until=None,
            last_error="",
            response_status=job.status,
        )
        return
    error = job.error
    delivery = Delivery.objects.filter(pk=job.delivery_id).only("created_at").first()
    if delivery is None:
        return
    delay = backoff(job.attempt, error.retry_after)
    give_up_at = delivery.created_at + timedelta(seconds=float(conf.get("NOTIFICATIONS_GIVE_UP_SECONDS")))
    if not error.retryable or now + timedelta(seconds=delay) > give_up_at:
        reason = error.reason if not error.retryable else f"gave up after {job.attempt} attempts: {error.reason}"
        ours.update(
            status=Delivery.Status.FAILED,
            failed_at=now,
            lease_until=None,
            last_error=reason[:300],
            response_status=error.status,
        )
        logger.warning("notification delivery %s failed for good: %s", job.delivery_id, reason)
        return
    ours.update(
        status=Delivery.Status.PENDING,
        next_attempt_at=now + timedelta(seconds=delay),
        lease_until=None,
        last_error=error.reason,
        response_status=error.status,
    )


# -- the relay's nudge ---------------------------------------------------------------------
_kicker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify-kick")
_kick_lock = threading.Lock()
_kick_pending = False
KICK_KEY = "notifications:kick"


def on_published(seqs: list[int]) -> None:
    """Relay listener: queue a fan-out now (latency), at most one waiting at a time.

    Runs on the relay's loop: everything (the cache, the broker) happens on a thread of
    our own, so a slow broker never holds the streams up. With eager tasks (the test
    suite, no broker) nothing is queued; the sweep does the work.
    """
    global _kick_pending
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return
    with _kick_lock:
        if _kick_pending:
            return
        _kick_pending = True
    _kicker.submit(_kick)


KICK_COALESCE_SECONDS = 0.25


def _kick() -> None:
    global _kick_pending
    # Events published meanwhile join this fan-out: one per quarter second at most, not
    # one per event (each costs a few queries per channel).
    time.sleep(KICK_COALESCE_SECONDS)
    with _kick_lock:
        _kick_pending = False
    try:
        from notifications.tasks import fanout_task

        # At most one fan-out waiting in the queue (it clears the flag when it starts): a
        # pile of them would queue bot ticks behind it. The flag expires by itself if that
        # task is lost; the sweep covers the gap.
        if cache.add(KICK_KEY, 1, timeout=10):
            fanout_task.apply_async(retry=False)
    except Exception as exc:  # the broker is down: the periodic sweep catches up
        logger.warning("could not queue a notifications fan-out (%s); the sweep will", exc.__class__.__name__)


def deliveries_purge(*, older_than_days: int | None = None) -> int:
    """Drop finished deliveries past the event retention (the log is kept as long as events)."""
    days = settings.EVENT_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    done = [Delivery.Status.DELIVERED, Delivery.Status.FAILED]
    return Delivery.objects.filter(created_at__lt=cutoff, status__in=done).delete()[0]
