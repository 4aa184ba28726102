"""Answers bots gives to other apps' questions, registered from ``BotsConfig.ready``.

* credentials: "is this key set in use?" — deleting a key set a running live bot uses
  is a 409 (API.md "credentials").
* realtime: "may this user subscribe to this bot's events?" — owner only (staff see all).
* realtime: "when did a worker last beat, and who owns running bots?" — the engine
  watchdog (notifications) reads the heartbeats through it.
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


def engine_facts() -> dict:
    from django.db.models import Max

    from bots.models import WorkerHeartbeat

    return {
        "last_heartbeat": WorkerHeartbeat.objects.aggregate(last=Max("last_seen"))["last"],
        "running_owner_ids": sorted(
            set(Bot.objects.alive().filter(status=Bot.Status.RUNNING).values_list("owner_id", flat=True))
        ),
    }


def register_all() -> None:
    from credentials.services import register_in_use_checker
    from realtime import registry

    register_in_use_checker(credential_in_use)
    registry.register_bot_access_checker(user_owns_bot)
    registry.register_engine_status_provider(engine_facts)
