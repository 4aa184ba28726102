"""Thin views: parse, call a selector or service, shape the response (API.md "bots")."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.ops import ops_access
from bots import analytics, selectors, services, strategies, venues
from bots.engine import market
from bots.lifecycle import Action
from bots.serializers import (
    ActionSerializer,
    BotDocSerializer,
    BotEnvelopeSerializer,
    BotWriteSerializer,
    CandleQuerySerializer,
    OrderEnvelopeSerializer,
    OrderPlaceSerializer,
    PauseSerializer,
    PerformanceSerializer,
    PlatformQuerySerializer,
    StopSerializer,
    TradeFilterSerializer,
    bot_brief,
    bot_to_dict,
    order_to_dict,
    position_to_dict,
    trade_to_dict,
)
from bots.services import instructions
from core.pagination import PageNumberPagination

_LIST = {"success": serializers.BooleanField(), "total": serializers.IntegerField()}
_PAGE = {**_LIST, "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True)}


def _valid(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _page(view: APIView, request, queryset, to_dict):
    paginator = PageNumberPagination()
    rows = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response([to_dict(row) for row in rows])


# ---------------------------------------------------------------------------
# Catalogues
# ---------------------------------------------------------------------------
class StrategiesView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: inline_serializer("StrategiesResponse", {**_LIST, "strategies": serializers.ListField()})},
        tags=["catalogue"],
    )
    def get(self, request):
        rows = strategies.catalogue()
        return Response(
            {"success": True, "strategies": rows, "total": len(rows), "timeframes": list(strategies.TIMEFRAMES)}
        )


class ExchangesView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: inline_serializer("ExchangesResponse", {**_LIST, "exchanges": serializers.ListField()})},
        tags=["catalogue"],
    )
    def get(self, request):
        rows = venues.catalogue()
        return Response({"success": True, "exchanges": rows, "total": len(rows), "default": venues.DEFAULT_VENUE})


class ExchangeSymbolsView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: inline_serializer(
                "SymbolsResponse",
                {
                    **_LIST,
                    "exchange": serializers.CharField(),
                    "symbols": serializers.ListField(),
                    "verified": serializers.BooleanField(),
                },
            )
        },
        tags=["catalogue"],
    )
    def get(self, request, exchange: str):
        exchange = exchange.lower()
        if not venues.is_known(exchange):
            raise NotFound(f"Unknown exchange {exchange!r}.")
        symbols, verified = venues.symbols(exchange)
        return Response(
            {"success": True, "exchange": exchange, "symbols": symbols, "total": len(symbols), "verified": verified}
        )


# ---------------------------------------------------------------------------
# Bots
# ---------------------------------------------------------------------------
class BotListCreateView(APIView):
    list_key = "bots"

    @extend_schema(
        parameters=[OpenApiParameter(p, str, required=False) for p in ("status", "exchange", "trading_mode")],
        responses={200: inline_serializer("BotList", {**_PAGE, "bots": BotDocSerializer(many=True)})},
        tags=["bots"],
    )
    def get(self, request):
        params = request.query_params
        filters = {
            "status": params.get("status"),
            "exchange": params.get("exchange") or params.get("platform"),
            "mode": params.get("trading_mode") or params.get("mode"),
        }
        paginator = PageNumberPagination()
        bots = paginator.paginate_fetched(
            lambda limit, offset: selectors.bot_page(user=request.user, limit=limit, offset=offset, **filters),
            request,
            view=self,
        )
        return paginator.get_paginated_response([bot_to_dict(bot) for bot in bots])

    @extend_schema(request=BotWriteSerializer, responses={201: BotEnvelopeSerializer}, tags=["bots"])
    def post(self, request):
        serializer = BotWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bot = services.bot_create(user=request.user, data=serializer.with_defaults())
        message = f"Bot '{bot.name}' created" + (" and entered the training bay" if bot.in_training else "")
        return Response({"success": True, "bot": bot_to_dict(bot), "message": message}, status=status.HTTP_201_CREATED)


class BotDetailView(APIView):
    extra_error_statuses = ["409"]

    @extend_schema(responses={200: BotEnvelopeSerializer}, tags=["bots"])
    def get(self, request, bot_id: int):
        return Response(
            {
                "success": True,
                "bot": bot_to_dict(selectors.bot_get(user=request.user, bot_id=bot_id, profit_today=True)),
            }
        )

    @extend_schema(
        request=BotWriteSerializer,
        responses={200: BotEnvelopeSerializer},
        tags=["bots"],
        description=(
            "Change a bot. While it is not stopped only `name`, `params` and `interval_seconds` may change "
            "(409 `BOT_NOT_STOPPED` otherwise). The `exchange`, `credential_id` and `trading_mode` do not change "
            "while an order of the bot is still in flight (409 `ORDER_IN_FLIGHT` naming it): it is reconciled on "
            "the venue and key set it was sent with. Switching `trading_mode` to `live` enters the training bay. "
            "Changing the `exchange`, `symbol` or `strategy` of a live bot — promoted or still in training — "
            "puts it back in the training bay with a fresh countdown: the answer has `bot.in_training: true`, "
            "`bot.training_started_at` set to now, `bot.promoted_at: null`, `bot.training_hours_remaining` "
            "equal to `LIVE_MIN_TRAINING_HOURS`, and a `message` saying it went back to the bay "
            "(event `training_started` with a `reason`)."
        ),
    )
    def patch(self, request, bot_id: int):
        selectors.bot_get(user=request.user, bot_id=bot_id)  # 404 before 400 for another user's bot
        data = _valid(BotWriteSerializer, request.data, partial=True)
        bot, message = services.bot_update(user=request.user, bot_id=bot_id, data=data)
        return Response({"success": True, "bot": bot_to_dict(bot), "message": message})

    @extend_schema(
        responses={
            200: inline_serializer(
                "BotDeleted", {"success": serializers.BooleanField(), "message": serializers.CharField()}
            )
        },
        tags=["bots"],
    )
    def delete(self, request, bot_id: int):
        bot = selectors.bot_get(user=request.user, bot_id=bot_id)
        services.bot_delete(user=request.user, bot_id=bot_id)
        return Response({"success": True, "message": f"Bot '{bot.name}' deleted", "id": bot_id})


_ACTION_BODIES = {Action.STOP: StopSerializer, Action.PAUSE: PauseSerializer}


class BotActionView(APIView):
    bot_action: Action = Action.START
    extra_error_statuses = ["409", "423"]

    def get_serializer_class(self):  # the request body the schema documents for this action
        return _ACTION_BODIES.get(self.bot_action, ActionSerializer)

    @extend_schema(responses={200: BotEnvelopeSerializer}, tags=["bots"])
    def post(self, request, bot_id: int):
        body = _valid(self.get_serializer_class(), request.data)
        close = body.get("close_positions", False)
        reason = body.get("reason", "")[:300]
        bot, message = services.bot_transition(
            bot_id=bot_id,
            action=self.bot_action,
            user=request.user,
            reason=reason,
            close_positions=close,
        )
        return Response({"success": True, "message": message, "bot": bot_to_dict(bot)})


class BotOrdersView(APIView):
    list_key = "orders"

    @extend_schema(
        tags=["bots"], responses={200: inline_serializer("OrderList", {**_PAGE, "orders": serializers.ListField()})}
    )
    def get(self, request, bot_id: int):
        bot = selectors.bot_get(user=request.user, bot_id=bot_id)
        queryset = selectors.order_list(
            bot=bot, status=request.query_params.get("status"), side=request.query_params.get("side")
        )
        return _page(self, request, queryset, order_to_dict)

    @extend_schema(request=OrderPlaceSerializer, responses={201: OrderEnvelopeSerializer}, tags=["bots"])
    def post(self, request, bot_id: int):
        selectors.bot_get(user=request.user, bot_id=bot_id)  # another user's bot: 404 before any 400
        body = _valid(OrderPlaceSerializer, request.data)
        order = instructions.bot_order_place(user=request.user, bot_id=bot_id, data=body)
        return Response(_placed(order, f"{body['side'].capitalize()} order placed"), status=status.HTTP_201_CREATED)


class BotOrderView(APIView):
    extra_error_statuses = ["409"]

    @extend_schema(responses={200: OrderEnvelopeSerializer}, tags=["bots"])
    def delete(self, request, bot_id: int, order_id: int):
        order = instructions.bot_order_cancel(user=request.user, bot_id=bot_id, order_id=order_id)
        return Response({"success": True, "message": f"Order {order.pk} canceled", "order": order_to_dict(order)})


class BotCloseView(APIView):
    extra_error_statuses = ["409"]

    @extend_schema(request=None, responses={201: OrderEnvelopeSerializer}, tags=["bots"])
    def post(self, request, bot_id: int):
        selectors.bot_get(user=request.user, bot_id=bot_id)
        _valid(ActionSerializer, request.data)
        order = instructions.bot_close(user=request.user, bot_id=bot_id)
        return Response(_placed(order, "Closing the position"), status=status.HTTP_201_CREATED)


def _placed(order, what: str) -> dict:
    state = "rests" if order.status == "open" else order.status
    return {"success": True, "message": f"{what}: order {order.pk} {state}", "order": order_to_dict(order)}


class BotPositionsView(APIView):
    @extend_schema(
        tags=["bots"],
        responses={200: inline_serializer("PositionList", {**_LIST, "positions": serializers.ListField()})},
    )
    def get(self, request, bot_id: int):
        bot = selectors.bot_get(user=request.user, bot_id=bot_id)
        include_flat = request.query_params.get("include_closed") in ("1", "true")
        rows = list(selectors.position_list(bot=bot, include_flat=include_flat))
        prices = {row.symbol: market.last_price(bot.exchange, row.symbol) for row in rows if row.quantity > 0}
        return Response(
            {
                "success": True,
                "positions": [position_to_dict(row, price=prices.get(row.symbol)) for row in rows],
                "total": len(rows),
            }
        )


class BotTradesView(APIView):
    list_key = "trades"
    extra_error_statuses = ["404"]  # a bot_id filter naming no bot of the caller's

    @extend_schema(
        parameters=[TradeFilterSerializer],
        tags=["bots"],
        responses={200: inline_serializer("TradeList", {**_PAGE, "trades": serializers.ListField()})},
    )
    def get(self, request, bot_id: int | None = None):
        filters = _valid(TradeFilterSerializer, request.query_params)
        bot = selectors.bot_get(user=request.user, bot_id=bot_id) if bot_id is not None else None
        if bot is None and filters.get("bot_id"):
            selectors.bot_get(user=request.user, bot_id=filters["bot_id"])  # another user's bot: 404
        queryset = selectors.trade_list(user=request.user, bot=bot, filters=filters)
        return _page(self, request, queryset, trade_to_dict)


class BotEquityView(APIView):
    @extend_schema(
        tags=["bots"],
        responses={
            200: inline_serializer("Equity", {"success": serializers.BooleanField(), "points": serializers.ListField()})
        },
    )
    def get(self, request, bot_id: int):
        bot = selectors.bot_get(user=request.user, bot_id=bot_id)
        return Response(
            {"success": True, "bot_id": bot.pk, "currency": bot.quote_currency, "points": analytics.equity_curve(bot)}
        )


class BotCandlesView(APIView):
    @extend_schema(
        parameters=[CandleQuerySerializer],
        tags=["bots"],
        responses={
            200: inline_serializer(
                "Candles", {"success": serializers.BooleanField(), "candles": serializers.ListField()}
            )
        },
    )
    def get(self, request, bot_id: int):
        bot = selectors.bot_get(user=request.user, bot_id=bot_id)
        query = _valid(CandleQuerySerializer, request.query_params)
        timeframe = query.get("timeframe") or bot.timeframe
        rows = market.candles(bot.exchange, bot.symbol, timeframe, limit=query["limit"])
        return Response(
            {
                "success": True,
                "bot_id": bot.pk,
                "exchange": bot.exchange,
                "symbol": bot.symbol,
                "timeframe": timeframe,
                "candles": [c.as_dict() for c in rows],
            }
        )


class BotEventsView(APIView):
    list_key = "events"

    @extend_schema(
        tags=["bots"], responses={200: inline_serializer("BotEvents", {**_PAGE, "events": serializers.ListField()})}
    )
    def get(self, request, bot_id: int):
        bot = selectors.bot_get(user=request.user, bot_id=bot_id)
        return _page(
            self,
            request,
            selectors.bot_events(user=request.user, bot=bot),
            lambda e: {
                "id": e.pk,
                "seq": e.seq,
                "type": e.type,
                "message": e.message,
                "payload": e.payload,
                "timestamp": e.created_at.isoformat(),
            },
        )


class BotPerformanceView(APIView):
    @extend_schema(tags=["analytics"], responses={200: PerformanceSerializer}, description=analytics.CONVENTIONS)
    def get(self, request, bot_id: int):
        bot = selectors.bot_get(user=request.user, bot_id=bot_id)
        return Response({"success": True, "bot_id": bot.pk, **analytics.bot_performance(bot)})


class AnalyticsSummaryView(APIView):
    @extend_schema(
        tags=["analytics"], responses={200: PerformanceSerializer}, description=analytics.SUMMARY_CONVENTIONS
    )
    def get(self, request):
        return Response({"success": True, **analytics.user_summary(request.user)})


# ---------------------------------------------------------------------------
# Platforms, fleet actions of older clients, engine status
# ---------------------------------------------------------------------------
class PlatformsSummaryView(APIView):
    @extend_schema(
        tags=["platforms"],
        responses={200: inline_serializer("PlatformsSummary", {**_LIST, "platforms": serializers.ListField()})},
    )
    def get(self, request):
        rows = selectors.platforms_summary(user=request.user)
        return Response(
            {"success": True, "platforms": rows, "total": len(rows), "currency": analytics.settings.REPORTING_CURRENCY}
        )


class PlatformBotsView(APIView):
    @extend_schema(
        parameters=[PlatformQuerySerializer],
        tags=["platforms"],
        responses={
            200: inline_serializer(
                "PlatformBots",
                {
                    "success": serializers.BooleanField(),
                    "platform": serializers.CharField(),
                    "mode": serializers.CharField(allow_null=True),
                    "bots": serializers.ListField(),
                    "total_bots": serializers.IntegerField(),
                },
            )
        },
    )
    def get(self, request, platform: str):
        mode = _valid(PlatformQuerySerializer, request.query_params).get("mode")
        rows = [bot_brief(bot) for bot in selectors.bot_rows(user=request.user, exchange=platform.lower(), mode=mode)]
        return Response(
            {"success": True, "platform": platform.lower(), "mode": mode, "bots": rows, "total_bots": len(rows)}
        )


class FleetActionView(APIView):
    bot_action: Action = Action.START

    @extend_schema(
        tags=["bots"],
        request=None,
        responses={
            200: inline_serializer(
                "FleetAction", {"success": serializers.BooleanField(), "status": serializers.CharField()}
            )
        },
    )
    def post(self, request):
        _valid(ActionSerializer, request.data)  # a malformed body is a 400, not ignored
        result = services.bots_transition_all(user=request.user, action=self.bot_action)
        word = "started" if self.bot_action == Action.START else "stopped"
        return Response({"success": True, "status": word, "bots": result["done"], "skipped": result["skipped"]})


class StatusView(APIView):
    """Engine state for monitors: public, cheap, and a 200 even when the engine is down.

    Anyone gets ``{success, status}``; the fleet-wide figures (workers, last heartbeat,
    running bots) only staff or a monitor with ``OPS_TOKEN`` (accounts/ops.py).
    """

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        tags=["health"],
        description="`status` for anyone; `workers`, `last_heartbeat` and `running_bots` only for staff "
        "or `Authorization: Bearer <OPS_TOKEN>` (a bad or missing token gets the short answer, never an error).",
        responses={
            200: inline_serializer(
                "EngineStatus",
                {
                    "success": serializers.BooleanField(),
                    "status": serializers.ChoiceField(
                        choices=["online", "stalled", "offline"],
                        help_text="online: workers beat and every running bot is ticked on time; stalled: workers "
                        "beat but running bots are overdue (by more than ENGINE_LEASE_SECONDS + 3 × "
                        "ENGINE_DISPATCH_SECONDS); offline: no worker heartbeat in 30 s.",
                    ),
                    "workers": serializers.IntegerField(required=False),
                    "last_heartbeat": serializers.DateTimeField(allow_null=True, required=False),
                    "running_bots": serializers.IntegerField(allow_null=True, required=False),
                    "overdue_bots": serializers.IntegerField(allow_null=True, required=False),
                },
            )
        },
    )
    def get(self, request):
        engine = selectors.engine_status()
        return (
            Response({"success": True, **engine})
            if ops_access(request)
            else Response({"success": True, "status": engine["status"]})
        )
