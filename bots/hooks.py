"""Answers bots gives to other apps' questions, registered from ``BotsConfig.ready``.

* credentials: "is this key set in use?" — deleting a key set a running live bot uses
  is a 409 (API.md "credentials").
* realtime: "may this user subscribe to this bot's events?" — owner only (staff see all).
* accounts: "this user leaves" — their bots stop; "export this user's data" — bots,
  orders and trades as the API shows them (no secret).
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


def stop_bots_of(user) -> None:
    """A user who leaves: every bot of theirs that trades stops (within the leaving transaction)."""
    from bots.lifecycle import Action
    from bots.services import bot_transition

    alive = Bot.objects.alive().filter(owner=user).exclude(status=Bot.Status.STOPPED)
    for bot_id in alive.values_list("pk", flat=True):
        bot_transition(bot_id=bot_id, action=Action.STOP, actor=user, reason="the account was closed")


def export_bots(user) -> list:
    from bots.serializers import bot_to_dict

    return [bot_to_dict(bot) for bot in Bot.objects.alive().filter(owner=user).order_by("pk")]


def export_orders(user) -> list:
    from bots.models import Order
    from bots.serializers import order_to_dict

    return [order_to_dict(order) for order in Order.objects.filter(bot__owner=user).order_by("pk").iterator()]


def export_trades(user) -> list:
    from bots.models import Trade
    from bots.serializers import trade_to_dict

    return [trade_to_dict(trade) for trade in Trade.objects.filter(owner=user).order_by("pk").iterator()]


def export_backtests(user) -> list:
    from bots.models import Backtest
    from bots.serializers import backtest_to_dict

    return [backtest_to_dict(run) for run in Backtest.objects.filter(owner=user).order_by("pk").iterator()]


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
    from accounts import hooks as account_hooks
    from credentials.services import register_in_use_checker

    account_hooks.register_leaver("bots", stop_bots_of)
    account_hooks.register_exporter("bots", export_bots)
    account_hooks.register_exporter("orders", export_orders)
    account_hooks.register_exporter("trades", export_trades)
    account_hooks.register_exporter("backtests", export_backtests)
    from realtime import registry

    register_in_use_checker(credential_in_use)
    registry.register_bot_access_checker(user_owns_bot)
    registry.register_engine_status_provider(engine_facts)
