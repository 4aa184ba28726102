"""``manage.py candles import FILE`` and ``manage.py candles download``: fill the candle store."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from bots import candle_download, candles
from core.errors import ApplicationError


def _epoch(value: str, flag: str) -> int:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{flag}: not an ISO 8601 date or time: {value!r}") from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


class Command(BaseCommand):
    help = "The candle store: import a recording (CSV or JSON array) or download history from a venue."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="import FILE (CSV timestamp,open,high,low,close,volume or JSON array)")
        imp.add_argument("file")
        imp.add_argument("--exchange", default="replay")
        imp.add_argument("--symbol", help="default: from the file name (ETH_BTC-5m.csv → ETH/BTC)")
        imp.add_argument("--timeframe", help="default: from the file name (ETH_BTC-5m.csv → 5m)")
        down = sub.add_parser("download", help="download history through the venue's public endpoints (ccxt)")
        down.add_argument("--exchange", required=True)
        down.add_argument("--symbol", required=True)
        down.add_argument("--timeframe", required=True)
        down.add_argument("--since", required=True)
        down.add_argument("--until", help="default: now")
        down.add_argument("--user", help="e-mail of the user whose backtest key set the venue needs")
        down.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        try:
            if options["action"] == "import":
                self._import(options)
            else:
                self._download(options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None

    def _import(self, options) -> None:
        path = options["file"]
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        guessed_symbol, _, guessed_tf = stem.partition("-")
        symbol = options["symbol"] or guessed_symbol.replace("_", "/", 1)
        timeframe = options["timeframe"] or guessed_tf
        if not symbol or not timeframe:
            raise CommandError("give --symbol and --timeframe (the file name does not say them)")
        try:
            added = candles.import_file(path, exchange=options["exchange"], symbol=symbol, timeframe=timeframe)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        self.stdout.write(f"Imported {added} new {timeframe} candles of {symbol} on {options['exchange']}")
        self._coverage(options["exchange"], symbol, timeframe)

    def _download(self, options) -> None:
        from credentials.exceptions import VenueError

        since = _epoch(options["since"], "--since")
        until = _epoch(options["until"], "--until") if options["until"] else int(datetime.now(UTC).timestamp())
        user = None
        if options["user"]:
            from django.contrib.auth import get_user_model

            user = get_user_model().objects.filter(email__iexact=options["user"]).first()
            if user is None:
                raise CommandError(f"no user {options['user']}")
        show = not options["no_progress"]

        def progress(done: int, total: int) -> None:
            if show:
                width = 30
                filled = int(width * done / total) if total else width
                sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} candles")
                sys.stderr.flush()

        try:
            client = candle_download.client_for(options["exchange"], user=user)
            report = candle_download.download(
                options["exchange"],
                options["symbol"],
                options["timeframe"],
                since=since,
                until=until,
                client=client,
                progress=progress,
            )
        except VenueError as exc:
            raise CommandError(f"{options['exchange']}: {exc} (run the same command again to resume)") from None
        if show:
            sys.stderr.write("\n")
        resumed = ", resumed after the stored candles" if report.resumed_from else ""
        self.stdout.write(f"Downloaded {report.stored} new candles in {report.pages} request(s){resumed}")
        self._coverage(options["exchange"], options["symbol"], options["timeframe"])

    def _coverage(self, exchange: str, symbol: str, timeframe: str) -> None:
        for c in candles.coverage(exchange=exchange, symbol=symbol, timeframe=timeframe):
            self.stdout.write(f"Stored: {c['since']} → {c['until']}, {c['candles']} candles, {c['gaps']} gaps")
