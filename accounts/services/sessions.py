"""Signed-in sessions (devices): list them, end one, end them all."""

from __future__ import annotations

from django.db import transaction

from accounts import tokens
from accounts.models import User, UserSession
from accounts.services import audit_record
from core.errors import NotFound


def session_list(*, user: User) -> list[UserSession]:
    return list(UserSession.objects.filter(user=user, ended_at__isnull=True).order_by("-last_used_at", "-id"))


@transaction.atomic
def session_end(*, user: User, session_id) -> None:
    """End one of the user's sessions; its tokens stop working and its streams close.
    Another user's session (or a made-up id) is a 404, as if it did not exist."""
    try:
        session_id = int(session_id)
    except (TypeError, ValueError):
        session_id = None
    session = (
        UserSession.objects.select_for_update().filter(pk=session_id, user=user, ended_at__isnull=True).first()
        if session_id is not None and 0 < session_id < 2**63
        else None
    )
    if session is None:
        raise NotFound("No such session.")
    tokens.sessions_end(user, session_ids=[session.pk])
    audit_record(actor=user, action="user.session_ended", target=session, data={"session_id": session.pk})


@transaction.atomic
def sessions_end_all(*, user: User) -> int:
    """Sign out everywhere: every session ends, this one too; tokens from before sessions
    existed stop working as well (the token version moves)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    user.token_version += 1
    user.save(update_fields=["token_version"])
    tokens.blacklist_all_for(user)
    ended = tokens.sessions_end(user)
    audit_record(actor=user, action="user.signed_out_everywhere", target=user, data={"sessions": ended})
    return ended
