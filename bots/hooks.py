"""Answers bots gives to other apps' questions, registered from ``BotsConfig.ready``.

* credentials: "is this key set in use?" — deleting a key set a running live bot uses
  is a 409 (API.md "credentials").
* realtime: "may this user subscribe to this bot's events?" — owner only (staff see all).
"""

from __future__ import annotations

from bots.models import Bot


def credential_in_use(credential) -> str | None:
    """A reason when a running (or paused) live bot uses ``credential``, else None."""
    bot = (
        Bot.objects.alive()
        .filter(credential=credential, trading_mode=Bot.Mode.LIVE)
        .exclude(status=Bot.Status.STOPPED)
        .only("pk", "name")
        .first()
    )
    return f"bot '{bot.name}' (#{bot.pk}) is trading live with this key set; stop it first" if bot else None


def user_owns_bot(user_id: int, bot_id: int) -> bool:
    return Bot.objects.alive().filter(pk=bot_id, owner_id=user_id).exists()


def register_all() -> None:
    from credentials.services import register_in_use_checker
    from realtime import registry

    register_in_use_checker(credential_in_use)
    registry.register_bot_access_checker(user_owns_bot)
