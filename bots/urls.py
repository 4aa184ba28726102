from django.urls import path

from bots import views, views_backtests
from bots.lifecycle import Action

app_name = "bots"

urlpatterns = [
    path("strategies", views.StrategiesView.as_view(), name="strategies"),
    path("exchanges", views.ExchangesView.as_view(), name="exchanges"),
    path("exchanges/<str:exchange>/symbols", views.ExchangeSymbolsView.as_view(), name="exchange-symbols"),
    path("bots", views.BotListCreateView.as_view(), name="bots"),
    path("bots/<int:bot_id>", views.BotDetailView.as_view(), name="bot"),
    *(
        path(f"bots/<int:bot_id>/{action}", views.BotActionView.as_view(bot_action=action), name=f"bot-{action}")
        for action in Action
    ),
    path("bots/<int:bot_id>/orders", views.BotOrdersView.as_view(), name="bot-orders"),
    path("bots/<int:bot_id>/orders/<int:order_id>", views.BotOrderView.as_view(), name="bot-order"),
    path("bots/<int:bot_id>/close", views.BotCloseView.as_view(), name="bot-close"),
    path("bots/<int:bot_id>/positions", views.BotPositionsView.as_view(), name="bot-positions"),
    path("bots/<int:bot_id>/trades", views.BotTradesView.as_view(), name="bot-trades"),
    path("bots/<int:bot_id>/equity", views.BotEquityView.as_view(), name="bot-equity"),
    path("bots/<int:bot_id>/candles", views.BotCandlesView.as_view(), name="bot-candles"),
    path("bots/<int:bot_id>/events", views.BotEventsView.as_view(), name="bot-events"),
    path("bots/<int:bot_id>/performance", views.BotPerformanceView.as_view(), name="bot-performance"),
    path("trades", views.BotTradesView.as_view(), name="trades"),
    path("analytics/summary", views.AnalyticsSummaryView.as_view(), name="analytics-summary"),
    path("platforms/summary", views.PlatformsSummaryView.as_view(), name="platforms-summary"),
    path("platforms/<str:platform>/bots", views.PlatformBotsView.as_view(), name="platform-bots"),
    path("start", views.FleetActionView.as_view(bot_action=Action.START), name="fleet-start"),
    path("stop", views.FleetActionView.as_view(bot_action=Action.STOP), name="fleet-stop"),
    path("status", views.StatusView.as_view(), name="status"),
    path("backtests", views_backtests.BacktestListCreateView.as_view(), name="backtests"),
    path("backtests/<int:backtest_id>", views_backtests.BacktestDetailView.as_view(), name="backtest"),
    path("backtests/<int:backtest_id>/cancel", views_backtests.BacktestCancelView.as_view(), name="backtest-cancel"),
    *(
        path(
            f"backtests/<int:backtest_id>/{field}",
            views_backtests.BacktestRowsView.as_view(field=field),
            name=f"backtest-{field}",
        )
        for field in ("trades", "orders", "equity")
    ),
    path("backtests/<int:backtest_id>/results", views_backtests.BacktestResultsView.as_view(), name="backtest-results"),
    path("candles", views_backtests.CandlesView.as_view(), name="candles"),
    path("candles/coverage", views_backtests.CandleCoverageView.as_view(), name="candle-coverage"),
]
