"""Thin views of backtests and the candle store (API.md "backtests and candles")."""

from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from bots import candles
from bots.models import Backtest
from bots.serializers import backtest_to_dict
from bots.services import backtests as service
from core.errors import Invalid
from core.pagination import PageNumberPagination

_LIST = {"success": serializers.BooleanField(), "total": serializers.IntegerField()}
_PAGE = {**_LIST, "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True)}
_ONE = inline_serializer(
    "BacktestEnvelope", {"success": serializers.BooleanField(), "backtest": serializers.DictField()}
)
# Metrics a sweep's results may be ranked by (higher is better unless listed in _LOWER_BETTER).
METRICS = (
    "total_pnl",
    "total_pnl_percentage",
    "total_return",
    "win_rate",
    "profit_factor",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown",
    "total_trades",
)
_LOWER_BETTER = {"max_drawdown"}


def _page(view: APIView, request, rows, to_dict=lambda r: r):
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response([to_dict(row) for row in page])


class BacktestListCreateView(APIView):
    list_key = "backtests"

    @extend_schema(
        tags=["backtests"],
        responses={200: inline_serializer("BacktestList", {**_PAGE, "backtests": serializers.ListField()})},
    )
    def get(self, request):
        rows = (
            Backtest.objects.filter(owner=request.user, parent__isnull=True)
            .order_by("-created_at", "-pk")
            .defer("orders", "trades", "equity")
        )
        return _page(self, request, rows, backtest_to_dict)

    @extend_schema(tags=["backtests"], request=serializers.DictField(), responses={202: _ONE})
    def post(self, request):
        backtest = service.backtest_create(user=request.user, data=request.data)
        return Response({"success": True, "backtest": backtest_to_dict(backtest)}, status=status.HTTP_202_ACCEPTED)


class BacktestDetailView(APIView):
    @extend_schema(tags=["backtests"], responses={200: _ONE})
    def get(self, request, backtest_id: int):
        return Response(
            {
                "success": True,
                "backtest": backtest_to_dict(service.backtest_get(user=request.user, backtest_id=backtest_id)),
            }
        )

    @extend_schema(tags=["backtests"], responses={204: None})
    def delete(self, request, backtest_id: int):
        service.backtest_delete(user=request.user, backtest_id=backtest_id)
        return Response({"success": True, "message": f"Backtest {backtest_id} deleted"})


class BacktestCancelView(APIView):
    @extend_schema(tags=["backtests"], request=None, responses={200: _ONE})
    def post(self, request, backtest_id: int):
        backtest = service.backtest_cancel(user=request.user, backtest_id=backtest_id)
        return Response({"success": True, "backtest": backtest_to_dict(backtest)})


class BacktestRowsView(APIView):
    """A run's orders, trades or equity points (``field``), paginated."""

    field = "trades"

    @property
    def list_key(self) -> str:
        return "points" if self.field == "equity" else self.field

    @extend_schema(
        tags=["backtests"],
        responses={200: inline_serializer("BacktestRows", {**_PAGE, "rows": serializers.ListField()})},
    )
    def get(self, request, backtest_id: int):
        backtest = service.backtest_get(user=request.user, backtest_id=backtest_id)
        return _page(self, request, getattr(backtest, self.field) or [])


class BacktestResultsView(APIView):
    list_key = "results"

    @extend_schema(
        tags=["backtests"],
        responses={200: inline_serializer("BacktestResults", {**_PAGE, "results": serializers.ListField()})},
    )
    def get(self, request, backtest_id: int):
        backtest = service.backtest_get(user=request.user, backtest_id=backtest_id)
        if backtest.params_grid is None:
            raise Invalid(f"backtest {backtest.pk} is not a sweep (no params_grid)", code="NOT_A_SWEEP")
        metric = request.query_params.get("metric", "total_pnl")
        if metric not in METRICS:
            raise Invalid(f"metric must be one of {', '.join(METRICS)}", details={"metric": "unknown"})
        runs = list(backtest.runs.defer("orders", "trades", "equity").order_by("pk"))

        def key(run):
            value = (run.performance or {}).get(metric)
            if value is None:
                return (1, 0.0)
            number = float(value)
            return (0, number if metric in _LOWER_BETTER else -number)

        runs.sort(key=key)
        rows = [
            {
                "rank": i + 1,
                "id": r.pk,
                "params": r.params,
                "status": r.status,
                "metric": metric,
                "value": (r.performance or {}).get(metric),
                "performance": r.performance,
                "error": r.error or None,
            }
            for i, r in enumerate(runs)
        ]
        return _page(self, request, rows)


def _epoch(value: str | None, field: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{field}: not an ISO 8601 date or time: {value!r}", details={field: "invalid"}) from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


class CandlesView(APIView):
    MAX = 5000

    @extend_schema(
        tags=["candles"],
        responses={
            200: inline_serializer(
                "StoredCandles", {"success": serializers.BooleanField(), "candles": serializers.ListField()}
            )
        },
    )
    def get(self, request):
        query = request.query_params
        for field in ("exchange", "symbol", "timeframe"):
            if not query.get(field):
                raise Invalid(f"{field} is required", details={field: "is required"})
        seconds = candles.timeframe_seconds(query["timeframe"])
        since, until = _epoch(query.get("since"), "since"), _epoch(query.get("until"), "until")
        if since is not None and until is not None and since > until:
            raise Invalid("since must be before until", code="INVERTED_RANGE")
        candles.ensure_shipped()
        if until is None:
            until = 2**62
        if since is None:
            since = 0
        rows = candles.load(query["exchange"], query["symbol"], query["timeframe"], since=since, until=until)
        truncated = len(rows) > self.MAX
        if truncated:
            rows = candles.Rows(
                *(getattr(rows, f)[: self.MAX] for f in ("time", "open", "high", "low", "close", "volume"))
            )
        return Response(
            {
                "success": True,
                "exchange": query["exchange"],
                "symbol": query["symbol"],
                "timeframe": query["timeframe"],
                "seconds": seconds,
                "candles": candles.as_dicts(rows),
                "truncated": truncated,
                "limit": self.MAX,
            }
        )


class CandleCoverageView(APIView):
    @extend_schema(
        tags=["candles"],
        responses={
            200: inline_serializer(
                "CandleCoverage", {"success": serializers.BooleanField(), "coverage": serializers.ListField()}
            )
        },
    )
    def get(self, request):
        query = request.query_params
        cover = candles.coverage(
            exchange=query.get("exchange"), symbol=query.get("symbol"), timeframe=query.get("timeframe")
        )
        return Response({"success": True, "coverage": cover})
