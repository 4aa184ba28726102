"""Read-mostly admin pages for bots, orders and trades (staff powers come with adminpanel).

Lists select their foreign keys in the page query, so a page costs a constant number
of queries however many rows it shows.
"""

from __future__ import annotations

from django.contrib import admin

from bots.models import Backtest, Bot, BotDailyPnl, FleetHalt, Order, Position, Trade, WorkerHeartbeat


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Bot)
class BotAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "name",
        "owner",
        "exchange",
        "symbol",
        "strategy",
        "trading_mode",
        "status",
        "in_training",
        "force_paused",
        "realized_pnl",
        "total_trades",
        "created_at",
    )
    list_filter = ("status", "trading_mode", "exchange", "in_training", "force_paused", "strategy")
    search_fields = ("name", "owner__email", "symbol")
    list_select_related = ("owner",)
    show_full_result_count = False
    ordering = ("-created_at",)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "bot",
        "client_order_id",
        "symbol",
        "side",
        "type",
        "quantity",
        "status",
        "is_paper",
        "created_at",
    )
    list_filter = ("status", "side", "is_paper")
    search_fields = ("client_order_id", "venue_order_id", "bot__name")
    list_select_related = ("bot",)
    raw_id_fields = ("bot",)
    show_full_result_count = False


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "bot",
        "owner",
        "symbol",
        "side",
        "quantity",
        "price",
        "fee_quote",
        "realized_pnl",
        "executed_at",
    )
    list_filter = ("side", "is_paper")
    search_fields = ("bot__name", "symbol", "fill_id")
    list_select_related = ("bot", "owner")
    raw_id_fields = ("bot", "order", "owner")
    date_hierarchy = "executed_at"
    show_full_result_count = False


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("id", "bot", "symbol", "quantity", "average_cost", "realized_pnl", "updated_at")
    list_select_related = ("bot",)
    raw_id_fields = ("bot",)


@admin.register(BotDailyPnl)
class BotDailyPnlAdmin(ReadOnlyAdmin):
    list_display = ("bot", "day", "realized_pnl", "trades", "wins", "losses", "fees")
    list_select_related = ("bot",)
    raw_id_fields = ("bot",)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("name", "hostname", "pid", "started_at", "last_seen")


@admin.register(FleetHalt)
class FleetHaltAdmin(ReadOnlyAdmin):
    list_display = ("id", "halted", "reason", "since", "by")


@admin.register(Backtest)
class BacktestAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "owner",
        "strategy",
        "exchange",
        "symbol",
        "timeframe",
        "status",
        "progress",
        "candles",
        "parent",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "strategy", "exchange")
    search_fields = ("owner__email", "symbol")
    list_select_related = ("owner",)
    # The results (orders, trades, equity) can be large: the change page shows the summary only.
    exclude = ("orders", "trades", "equity")
    show_full_result_count = False
    ordering = ("-created_at",)
