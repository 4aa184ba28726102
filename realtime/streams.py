"""What the WebSocket consumer and the SSE stream share: auth, audiences, replay.

Every function here is synchronous and touches the ORM; the streams call them through
``database_sync_to_async`` only when they authenticate or replay, never per message.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db.models import Max, Q
from rest_framework import exceptions

from accounts.authentication import authenticate_stream_token
from core.errors import ApplicationError, Forbidden
from core.limits import MAX_ID
from core.renderers import Unserializable
from realtime import registry
from realtime.models import Event, RelayState
from realtime.serialization import (
    STAFF_GROUP,
    bot_group,
    category_of,
    event_json,
    user_group,
)


@dataclass(frozen=True)
class Identity:
    user_id: int
    is_staff: bool
    # The highest seq when the stream started: it sends what comes after.
    baseline: int
    # When the token stops being accepted (its ``exp`` plus simplejwt's leeway), in epoch
    # seconds: the stream checks it again then, and ends.
    expires_at: float = float("inf")


class AuthError(Exception):
    """Why a stream's token was refused; ``status``/``code`` are what HTTP answers (SSE):
    401 for a bad token, 403 ``ACCOUNT_DISABLED`` for an account staff disabled."""

    def __init__(self, message: str, *, status: int = 401, code: str = "AUTHENTICATION_FAILED"):
        super().__init__(message)
        self.status = status
        self.code = code


def _verified(raw_token: str):
    """The user of an access JWT or a personal API token (with ``read``), and its expiry."""
    try:
        return authenticate_stream_token(raw_token)
    except exceptions.APIException as exc:  # invalid, expired, revoked, ended, disabled, no scope
        if exc.status_code == 403:
            raise AuthError(str(exc.detail), status=403, code=getattr(exc, "error_code", "PERMISSION_DENIED")) from exc
        raise AuthError(str(exc.detail)) from exc
    except ApplicationError as exc:  # the same refusals, once accounts raises the domain's errors
        if isinstance(exc, Forbidden):
            raise AuthError(exc.message, status=403, code=exc.code) from exc
        raise AuthError(exc.message) from exc


def authenticate(raw_token: str) -> Identity:
    """The identity of an access token; checks revocation and disabled accounts."""
    user, expires_at = _verified(raw_token)
    return Identity(user_id=user.pk, is_staff=user.is_staff, baseline=current_seq(), expires_at=expires_at)


def recheck(identity: Identity, raw_token: str) -> Identity:
    """The stream's identity as it stands now; AuthError once its token no longer passes.

    Called when the user's sessions changed (logout, password change, staff disabling
    the account or changing its staff flag) and when the token expires. Also takes a
    fresh token for the same user (the WebSocket's in-band re-authentication).
    """
    user, expires_at = _verified(raw_token)
    if user.pk != identity.user_id:
        raise AuthError("The token belongs to another user.")
    return replace(identity, is_staff=user.is_staff, expires_at=expires_at)


def current_seq() -> int:
    return Event.objects.aggregate(top=Max("seq"))["top"] or 0


def purged_through() -> int:
    return RelayState.objects.filter(pk=RelayState.SINGLETON_ID).values_list("purged_through", flat=True).first() or 0


@dataclass
class Audience:
    """Whose events a stream carries; the channel-layer groups and the replay filter agree."""

    user_id: int
    staff: bool = False
    bot_ids: set[int] = field(default_factory=set)

    def groups(self) -> set[str]:
        if self.staff:
            return {STAFF_GROUP}
        if self.bot_ids:
            return {bot_group(bot_id) for bot_id in self.bot_ids}
        return {user_group(self.user_id)}

    def filter(self) -> Q:
        if self.staff:
            return Q()
        if self.bot_ids:
            # Staff-only rows never go to a bot's group (realtime.serialization.groups_for).
            return Q(bot_id__in=sorted(self.bot_ids), user__isnull=False)
        return Q(user_id=self.user_id)


def replay_page(audience: Audience, *, after: int, limit: int, skip: tuple[int, int] | None = None) -> list[dict]:
    """Up to ``limit`` events for ``audience`` with ``seq > after``, in seq order.

    Includes rows the relay has numbered but not yet confirmed sent: a number is
    committed before its event is sent, so the table is always ahead of the live stream.
    ``skip=(lo, hi)`` leaves out ``lo < seq <= hi`` (what this connection already sent).
    """
    query = Event.objects.filter(audience.filter(), failed_at__isnull=True)
    if skip is not None and skip[1] > skip[0]:
        query = query.exclude(seq__gt=skip[0], seq__lte=skip[1])
    page: list[dict] = []
    # A row that cannot be encoded is left out (the relay records it as failed and never
    # sends it live either); the page is filled past it, since callers take a short page
    # for the end of the table.
    while len(page) < limit:
        wanted = limit - len(page)
        rows = list(
            query.filter(seq__gt=after)
            .order_by("seq")
            .values("seq", "type", "payload", "message", "created_at")[:wanted]
        )
        for row in rows:
            try:
                text = event_json(
                    type=row["type"],
                    seq=row["seq"],
                    payload=row["payload"],
                    message=row["message"],
                    created_at=row["created_at"],
                )
            except Unserializable:
                continue
            page.append({"seq": row["seq"], "category": category_of(row["type"]), "text": text})
        if len(rows) < wanted:
            break
        after = rows[-1]["seq"]
    return page


def may_follow_bot(identity: Identity, bot_id: int) -> bool:
    """Staff follow any bot; a user follows their own (the ``bots`` app's checker decides)."""
    if identity.is_staff:
        return True
    checker = registry.bot_access_checker()
    if checker is not None:
        return bool(checker(identity.user_id, bot_id))
    return Event.objects.filter(bot_id=bot_id, user_id=identity.user_id).exists()


def overview(user_id: int) -> dict | None:
    provider = registry.overview_provider()
    return None if provider is None else provider(user_id)


# -- request parsing (no ORM) -------------------------------------------------------------------
def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def query_param(scope: dict, name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


def origin_allowed(scope: dict) -> bool:
    """Browsers send Origin: it must be this host or one of ``CORS_ALLOWED_ORIGINS``.

    No Origin header means a non-browser client (scripts, bots), which the token alone
    authenticates; cross-site WebSocket hijacking needs a browser, and browsers send it.
    """
    origin = header(scope, b"origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in {allowed.rstrip("/") for allowed in settings.CORS_ALLOWED_ORIGINS}:
        return True
    host = header(scope, b"host")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def bearer_token(scope: dict) -> str | None:
    value = header(scope, b"authorization")
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def parse_seq(value) -> int | None:
    """A client's ``last_seq``/``Last-Event-ID``/``bot_id``: an integer a 64-bit column can
    hold (``0 … MAX_ID``), else None. A larger one cannot even be bound to a query."""
    if isinstance(value, bool):
        return None
    try:
        seq = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        return None
    return seq if 0 <= seq <= MAX_ID else None
