"""Backtest use cases: create (a run or a sweep), run (a worker), cancel, delete.

A run goes ``queued → running → finished | failed | canceled``. ``backtest_run`` claims a
queued run with a lease (``claimed_until``) in one conditional UPDATE, so two deliveries of
the same task never run it twice; a worker killed mid-run leaves a lease that expires, and
``backtests_reap`` (housekeeping) marks such a run failed, saying why — never "running"
forever. The run itself holds no transaction: candles are read, the decision core ticks in
memory, and the result is written in one short transaction at the end.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from accounts.usage import usage_add
from bots import analytics, candles, strategies
from bots import equity as equity_mod
from bots.engine import backtest as runner
from bots.engine import risk
from bots.models import Backtest, Bot
from bots.serializers import backtest_to_dict
from core.errors import Conflict, Invalid, NotFound, RateLimited
from realtime.services import event_record

ACTIVE = (Backtest.Status.QUEUED, Backtest.Status.RUNNING)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, None) or default)


def max_candles() -> int:
    return _setting("BACKTEST_MAX_CANDLES", 1_000_000)


def max_combinations() -> int:
    return _setting("BACKTEST_MAX_COMBINATIONS", 500)


def max_concurrent() -> int:
    return _setting("BACKTEST_MAX_CONCURRENT", 3)


def lease_seconds() -> int:
    return _setting("BACKTEST_LEASE_SECONDS", 600)


# ---------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------
def _when(value, field: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(f"{field}: not an ISO 8601 date or time: {value!r}", details={field: "invalid"}) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _decimal(value, field: str, *, low: Decimal, high: Decimal | None, default=None) -> Decimal:
    if value is None or value == "":
        if default is None:
            raise Invalid(f"{field} is required", details={field: "is required"})
        return Decimal(default)
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise Invalid(f"{field}: not a number: {value!r}", details={field: "not a number"}) from None
    if not number.is_finite() or number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise Invalid(f"{field} must be {bound}", details={field: f"must be {bound}"})
    return number


def _params(strategy: str, params) -> dict:
    try:
        return strategies.validate_params(strategy, params)
    except strategies.ParamsError as exc:
        raise Invalid(f"invalid params: {exc}", code="INVALID_PARAMS", details=exc.errors) from None


def _combinations(strategy: str, base: dict, grid) -> list[dict]:
    if not isinstance(grid, dict) or not grid:
        raise Invalid("params_grid must be an object of param → [values]", details={"params_grid": "invalid"})
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise Invalid(f"params_grid.{key} must be a non-empty list", details={"params_grid": key})
    size = 1
    for values in grid.values():
        size *= len(values)
    if size > max_combinations():
        raise Invalid(
            f"params_grid has {size} combinations; the limit is {max_combinations()} (BACKTEST_MAX_COMBINATIONS)",
            code="GRID_TOO_LARGE",
        )
    keys = list(grid)
    out = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        chosen = {**base, **dict(zip(keys, combo, strict=True))}
        try:
            out.append(strategies.validate_params(strategy, chosen))
        except strategies.ParamsError as exc:
            raise Invalid(
                f"params_grid combination {dict(zip(keys, combo, strict=True))} is invalid: {exc}",
                code="INVALID_PARAMS",
                details=exc.errors,
            ) from None
    return out


def _spec(*, user, data: dict) -> dict:
    """The run's configuration from the request (or from a bot's), validated."""
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    bot = None
    if data.get("bot_id") is not None:
        bot = Bot.objects.of(user).filter(pk=data["bot_id"]).first() if str(data["bot_id"]).isdigit() else None
        if bot is None:
            raise NotFound(f"bot {data['bot_id']} not found")
        overrides = {k: v for k, v in (bot.override_rules or {}).items() if k in risk.OVERRIDE_KEYS}
        # The bot's exits as the engine applies them (the owner's, staff overrides where stricter).
        effective = risk.effective_rules(
            position_size_pct=bot.position_size_pct, override_rules=bot.override_rules, exits=bot.exits
        )
        for key in risk.EXIT_KEYS:
            value = getattr(effective, key)
            if value is not None and (key != "trailing_arm_pct" or effective.trailing_stop_pct is not None):
                overrides[key] = format(Decimal(value).normalize(), "f")
        spec = {
            "bot": bot,
            "strategy": bot.strategy,
            "params": dict(bot.params or {}),
            "exchange": bot.exchange,
            "symbol": bot.symbol,
            "timeframe": bot.timeframe,
            "capital": bot.capital,
            "position_size_pct": bot.position_size_pct,
            "rules": overrides,
        }
    else:
        for field in ("strategy", "exchange", "symbol", "timeframe", "capital"):
            if data.get(field) in (None, ""):
                raise Invalid(f"{field} is required", details={field: "is required"})
        spec = {
            "bot": None,
            "strategy": str(data["strategy"]),
            "params": data.get("params") or {},
            "exchange": str(data["exchange"]),
            "symbol": str(data["symbol"]),
            "timeframe": str(data["timeframe"]),
            "capital": _decimal(data["capital"], "capital", low=Decimal("1e-8"), high=Decimal("1e15")),
            "position_size_pct": _decimal(
                data.get("position_size_pct"), "position_size_pct", low=Decimal("1e-6"), high=Decimal(1), default=1
            ),
            "rules": {},
        }
        for key in (*risk.EXIT_KEYS, "max_daily_trades"):
            if data.get(key) is not None:
                spec["rules"][key] = str(_decimal(data[key], key, low=Decimal(0), high=Decimal(100000)))
    if spec["strategy"] not in strategies.STRATEGIES:
        raise Invalid(
            f"unknown strategy {spec['strategy']!r}; one of {', '.join(strategies.STRATEGIES)}",
            code="UNKNOWN_STRATEGY",
            details={"strategy": "unknown"},
        )
    if strategies.STRATEGIES[spec["strategy"]].external:
        raise Invalid(
            f"the {spec['strategy']!r} strategy trades only on signals from outside: there is nothing to backtest",
            code="NOT_BACKTESTABLE",
            details={"strategy": "takes its decisions from outside"},
        )
    candles.timeframe_seconds(spec["timeframe"])
    spec["params"] = _params(spec["strategy"], spec["params"])
    spec["fee_pct"] = _decimal(
        data.get("fee_pct"), "fee_pct", low=Decimal(0), high=Decimal("0.1"), default=_paper("fee")
    )
    spec["slippage_pct"] = _decimal(
        data.get("slippage_pct"), "slippage_pct", low=Decimal(0), high=Decimal("0.1"), default=_paper("slippage")
    )
    for field in ("since", "until"):
        if data.get(field) in (None, ""):
            raise Invalid(f"{field} is required", details={field: "is required"})
    spec["since"], spec["until"] = _when(data["since"], "since"), _when(data["until"], "until")
    if spec["since"] >= spec["until"]:
        raise Invalid("since must be before until", code="INVERTED_RANGE", details={"since": "after until"})
    spec["grid"] = None
    if data.get("params_grid") is not None:
        spec["grid"] = data["params_grid"]
        spec["combinations"] = _combinations(spec["strategy"], spec["params"], data["params_grid"])
    return spec


def _paper(which: str) -> Decimal:
    from bots.engine.adapters import paper

    return paper.fee_pct() if which == "fee" else paper.slippage_pct()


def _check_candles(spec: dict) -> int:
    """How many candles the range holds; ``Invalid`` naming what the store has when it holds none
    of them, or when the stored candles start after ``since`` or end before ``until`` (a run
    over part of the range would answer another question than the one asked). Gaps within
    the range are filled flat, as the replay venue fills them."""
    candles.ensure_shipped()
    seconds = candles.timeframe_seconds(spec["timeframe"])
    since, until = int(spec["since"].timestamp()), int(spec["until"].timestamp())
    span = (until - since) // seconds + 1
    if span > max_candles():
        raise Invalid(
            f"{span} candles in that range; the limit per run is {max_candles()} (BACKTEST_MAX_CANDLES)",
            code="TOO_MANY_CANDLES",
        )
    market = f"{spec['timeframe']} candles of {spec['symbol']} on {spec['exchange']}"
    held = candles.Candle.objects.filter(
        exchange=spec["exchange"],
        symbol=spec["symbol"],
        timeframe=spec["timeframe"],
        time__gte=since,
        time__lte=until,
    ).aggregate(n=Count("id"), first=Min("time"), last=Max("time"))
    if held["n"] and held["first"] <= -(-since // seconds) * seconds and held["last"] >= until // seconds * seconds:
        return held["n"]
    cover = candles.coverage(exchange=spec["exchange"], symbol=spec["symbol"])
    stored = "; ".join(f"{c['timeframe']} {c['since']} → {c['until']} ({c['candles']} candles)" for c in cover)
    stored = f"the store has {stored}" if stored else "the store has none of that market (see GET candles/coverage)"
    if not held["n"]:
        raise Invalid(f"no stored {market} in that range; {stored}", code="NO_CANDLES", details={"coverage": cover})
    part = f"{candles.iso(held['first'])} → {candles.iso(held['last'])}"
    raise Invalid(
        f"the stored {market} cover only {part} of that range; {stored}. "
        "Choose a range within the coverage (or import or download the missing candles)",
        code="PARTIAL_COVERAGE",
        details={
            "coverage": cover,
            "covered": {"since": candles.iso(held["first"]), "until": candles.iso(held["last"])},
        },
    )


# ---------------------------------------------------------------------------
# Create, cancel, delete
# ---------------------------------------------------------------------------
def backtest_create(*, user, data: dict) -> Backtest:
    """Queue a backtest (or a sweep: one child run per combination, each its own task)."""
    spec = _spec(user=user, data=data)
    _check_candles(spec)
    with transaction.atomic():
        # Serialise a user's creations so two requests cannot both slip under the limit.
        type(user).objects.select_for_update().filter(pk=user.pk).first()
        active = Backtest.objects.filter(owner=user, parent__isnull=True, status__in=ACTIVE).count()
        if active >= max_concurrent():
            raise RateLimited(
                f"{active} backtests already queued or running; the limit is {max_concurrent()} "
                "(BACKTEST_MAX_CONCURRENT)",
                code="BACKTEST_LIMIT",
            )
        common = {
            "owner": user,
            "bot": spec["bot"],
            "strategy": spec["strategy"],
            "exchange": spec["exchange"],
            "symbol": spec["symbol"],
            "timeframe": spec["timeframe"],
            "since": spec["since"],
            "until": spec["until"],
            "capital": spec["capital"],
            "fee_pct": spec["fee_pct"],
            "slippage_pct": spec["slippage_pct"],
            "position_size_pct": spec["position_size_pct"],
            "rules": spec["rules"],
        }
        parent = Backtest.objects.create(**common, params=spec["params"], params_grid=spec["grid"])
        runs = [parent]
        if spec["grid"] is not None:
            runs = Backtest.objects.bulk_create(
                [Backtest(**common, parent=parent, params=p) for p in spec["combinations"]]
            )
            if not all(r.pk for r in runs):  # backends that do not return ids from bulk inserts
                runs = list(parent.runs.order_by("pk"))
        ids = [r.pk for r in runs]
        usage_add(user_id=user.pk, backtests=1 + (len(runs) if spec["grid"] is not None else 0))
        transaction.on_commit(lambda: _dispatch(ids))
    return parent


def _dispatch(ids: list[int]) -> None:
    from bots.tasks import backtest_run_task

    for pk in ids:
        backtest_run_task.delay(pk)


def backtest_get(*, user, backtest_id) -> Backtest:
    found = Backtest.objects.filter(owner=user, pk=backtest_id).first() if str(backtest_id).isdigit() else None
    if found is None:
        raise NotFound(f"backtest {backtest_id} not found")
    return found


def backtest_cancel(*, user, backtest_id) -> Backtest:
    """Stop a queued or running run (a sweep: all its runs); what a running one did is kept."""
    with transaction.atomic():
        found = backtest_get(user=user, backtest_id=backtest_id)
        if found.status not in ACTIVE:
            raise Conflict(f"backtest {found.pk} is {found.status}", code="BACKTEST_NOT_ACTIVE")
        scope = Backtest.objects.filter(Q(pk=found.pk) | Q(parent=found))
        now = timezone.now()
        scope.filter(status=Backtest.Status.QUEUED).update(
            status=Backtest.Status.CANCELED, finished_at=now, cancel_requested=True
        )
        scope.filter(status=Backtest.Status.RUNNING).update(cancel_requested=True)
        _settle_parent(found.parent_id or found.pk)
        found.refresh_from_db()
    return found


def backtest_delete(*, user, backtest_id) -> None:
    with transaction.atomic():
        found = backtest_get(user=user, backtest_id=backtest_id)
        if found.parent_id is not None:
            raise Conflict("a sweep's run is deleted with its sweep", code="BACKTEST_IN_SWEEP")
        # A running run sees its row gone and stops writing (its final UPDATE matches nothing).
        runs = Backtest.objects.filter(Q(pk=found.pk) | Q(parent=found))
        counted = runs.aggregate(n=Count("id"), candles=Sum("candles", filter=Q(params_grid__isnull=True)))
        found.delete()
        usage_add(user_id=user.pk, backtests=-counted["n"], backtest_candles=-(counted["candles"] or 0))


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------
def _claim(backtest_id: int) -> Backtest | None:
    now = timezone.now()
    taken = (
        Backtest.objects.filter(pk=backtest_id, status=Backtest.Status.QUEUED)
        .exclude(claimed_until__gte=now)
        .update(status=Backtest.Status.RUNNING, started_at=now, claimed_until=now + timedelta(seconds=lease_seconds()))
    )
    return Backtest.objects.filter(pk=backtest_id).first() if taken else None


def _config(backtest: Backtest) -> runner.Config:
    return runner.Config(
        strategy=backtest.strategy,
        params=backtest.params,
        exchange=backtest.exchange,
        symbol=backtest.symbol,
        timeframe=backtest.timeframe,
        since=int(backtest.since.timestamp()),
        until=int(backtest.until.timestamp()),
        capital=backtest.capital,
        fee_pct=backtest.fee_pct,
        slippage_pct=backtest.slippage_pct,
        position_size_pct=backtest.position_size_pct,
        rules=backtest.rules or {},
        order_prefix=f"bt-{backtest.pk}",
    )


def load_rows(config: runner.Config) -> candles.Rows:
    """The run's candles, warm-up included, gaps filled flat as the replay venue fills them."""
    seconds = candles.timeframe_seconds(config.timeframe)
    first = config.since - runner.warmup(config) * seconds
    rows = candles.load(config.exchange, config.symbol, config.timeframe, since=first, until=config.until)
    return candles.filled(rows, seconds)


def backtest_run(backtest_id: int) -> str:
    """Run one queued backtest to its end; returns its final status ("" when not claimed)."""
    backtest = _claim(backtest_id)
    if backtest is None:
        return ""
    try:
        config = _config(backtest)
        rows = load_rows(config)
        last_event = [0.0, 0.0]  # when the last event was sent, when progress was last written

        def progress(fraction: float, ticks: int) -> bool:
            return _progress(backtest, fraction, ticks, last_event)

        result = runner.run(config, rows, progress=progress)
    except Exception as exc:  # recorded on the run (and its event); the worker goes on
        _fail(backtest.pk, f"{exc.__class__.__name__}: {exc}")
        return Backtest.Status.FAILED
    return _finish(backtest, result)


PROGRESS_WRITE_SECONDS = 0.25


def _progress(backtest: Backtest, fraction: float, ticks: int, last_event: list[float]) -> bool:
    """Keep the lease and the progress (and see a cancel) at most four times a second; emit
    ``backtest_progress`` at most twice a second. A run shorter than that writes nothing until
    it ends: a sweep's hundred short runs are not two thousand transactions."""
    now = time.monotonic()
    if now - last_event[1] < PROGRESS_WRITE_SECONDS:
        return True
    last_event[1] = now
    lease = timezone.now() + timedelta(seconds=lease_seconds())
    with transaction.atomic():
        alive = Backtest.objects.filter(pk=backtest.pk, status=Backtest.Status.RUNNING).update(
            progress=round(fraction, 4), candles=ticks, claimed_until=lease
        )
        if not alive:
            return False
        if now - last_event[0] >= 0.5 and backtest.parent_id is None:
            last_event[0] = now
            event_record(
                type="backtest_progress",
                user_id=backtest.owner_id,
                payload={"backtest_id": backtest.pk, "progress": round(fraction, 4), "candles": ticks},
                message=f"Backtest #{backtest.pk}: {fraction:.0%}",
            )
    return not Backtest.objects.filter(pk=backtest.pk, cancel_requested=True).exists()


def result_performance(backtest: Backtest, result: runner.Result) -> dict:
    """The fields of ``bots/{id}/performance``, computed by the same formulas on the run's fills."""
    ledger = result.ledger
    start = backtest.since
    # The run ends when its last candle closes: its fills are in the last mark.
    seconds = candles.timeframe_seconds(backtest.timeframe)
    end = datetime.fromtimestamp(int(result.times[-1]) + seconds, UTC) if result.candles else backtest.since
    curve = equity_mod.daily_equity(
        capital=backtest.capital,
        fills=ledger.fills,
        start=start,
        end=end,
        price=_pricer(result),
    )
    out = analytics.performance(analytics.book_of(capital=backtest.capital, fills=ledger.fills, curve=curve))
    out["currency"] = backtest.symbol.split("/", 1)[1] if "/" in backtest.symbol else ""
    return out


def _pricer(result: runner.Result):
    """The price of the run's symbol at a moment: the last tick's mark at or before it."""
    times, marks = result.times, result.marks

    def price(symbol: str, at: datetime):
        i = int(np.searchsorted(times, int(at.timestamp()), side="right")) - 1
        return Decimal(str(float(marks[i]))) if i >= 0 else None

    return price


def _finish(backtest: Backtest, result: runner.Result) -> str:
    status = Backtest.Status.CANCELED if result.canceled else Backtest.Status.FINISHED
    performance = result_performance(backtest, result)
    # One point per candle: the times formatted all at once (ISO 8601, whole seconds, UTC).
    stamps = np.datetime_as_string(result.times.astype("datetime64[s]"), unit="s").tolist()
    equity = [{"time": f"{s}Z", "equity": str(e)} for s, (_, e) in zip(stamps, result.equity, strict=True)]
    with transaction.atomic():
        done = Backtest.objects.filter(pk=backtest.pk, status=Backtest.Status.RUNNING).update(
            status=status,
            progress=1.0 if status == Backtest.Status.FINISHED else backtest.progress,
            candles=result.candles,
            performance=_json(performance),
            orders=_json_rows(result.ledger.orders),
            trades=_json_rows(result.ledger.trades),
            equity=equity,
            finished_at=timezone.now(),
            claimed_until=None,
        )
        if not done:
            return ""
        usage_add(user_id=backtest.owner_id, backtest_candles=result.candles)
        # What the event shows (not the results just written: reading them back costs more than the run).
        backtest.refresh_from_db(fields=["status", "progress", "candles", "performance", "finished_at", "error"])
        if backtest.parent_id is None:
            event_record(
                type="backtest_finished",
                user_id=backtest.owner_id,
                payload={"backtest": backtest_to_dict(backtest)},
                message=f"Backtest #{backtest.pk} {status}",
            )
        else:
            _settle_parent(backtest.parent_id)
    return status


def _fail(backtest_id: int, error: str) -> None:
    with transaction.atomic():
        failed = Backtest.objects.filter(pk=backtest_id, status__in=ACTIVE).update(
            status=Backtest.Status.FAILED, error=error[:2000], finished_at=timezone.now(), claimed_until=None
        )
        backtest = Backtest.objects.filter(pk=backtest_id).first()
        if backtest is None:
            return
        if failed and backtest.params_grid is None:  # the candles it ticked before it failed
            usage_add(user_id=backtest.owner_id, backtest_candles=backtest.candles)
        if backtest.parent_id is None:
            event_record(
                type="backtest_failed",
                user_id=backtest.owner_id,
                payload={"backtest": backtest_to_dict(backtest)},
                message=f"Backtest #{backtest.pk} failed: {error[:200]}",
            )
        else:
            _settle_parent(backtest.parent_id)


def _settle_parent(parent_id: int) -> None:
    """A sweep's own status and progress follow its runs; it ends when they all have."""
    parent = Backtest.objects.select_for_update().filter(pk=parent_id, params_grid__isnull=False).first()
    if parent is None or parent.status in Backtest.FINAL:
        return
    runs = list(parent.runs.values_list("status", "candles"))
    ended = sum(1 for status, _ in runs if status in Backtest.FINAL)
    parent.progress = round(ended / len(runs), 4) if runs else 1.0
    parent.candles = sum(n for _, n in runs)
    fields = ["progress", "candles"]
    if parent.status == Backtest.Status.QUEUED:
        parent.status, parent.started_at = Backtest.Status.RUNNING, timezone.now()
        fields += ["status", "started_at"]
    if ended == len(runs):
        canceled = parent.cancel_requested or any(s == Backtest.Status.CANCELED for s, _ in runs)
        parent.status = Backtest.Status.CANCELED if canceled else Backtest.Status.FINISHED
        parent.finished_at = timezone.now()
        fields += ["status", "finished_at"]
    parent.save(update_fields=list(set(fields)))
    if parent.status in Backtest.FINAL:
        event_record(
            type="backtest_finished",
            user_id=parent.owner_id,
            payload={"backtest": backtest_to_dict(parent)},
            message=f"Backtest sweep #{parent.pk} {parent.status}",
        )


def backtests_reap(*, now: datetime | None = None) -> int:
    """Runs whose worker died (lease expired while running) are failed, saying why."""
    now = now or timezone.now()
    stale = list(
        Backtest.objects.filter(
            status=Backtest.Status.RUNNING, claimed_until__lt=now, params_grid__isnull=True
        ).values_list("pk", flat=True)
    )
    for pk in stale:
        _fail(pk, "the worker running this backtest stopped (killed or restarted) before it ended")
    return len(stale)


def _json_rows(rows: list[dict]) -> list[dict]:
    """:func:`_json` of flat rows (orders, trades): one pass, hundreds of them per run."""
    return [{k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()} for row in rows]


def _json(value):
    """Decimals as strings, as every money field of the API."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value
