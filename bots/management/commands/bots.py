"""``manage.py bots list [--user EMAIL|ID] [--status S]``, ``bots start|stop|pause|resume ID``
and ``bots tick ID`` (one engine tick of a running bot now, for ops and debugging).

Transitions go through the same service as the API (audited, with events); the
operator acts as the system (no owner scope), so the state table and force-pause
rules still apply.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from bots import services
from bots.lifecycle import Action
from bots.models import Bot
from core.errors import ApplicationError, NotFound


class Command(BaseCommand):
    help = "List bots or move one along its state table."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List bots.")
        listing.add_argument("--user", help="owner email or id")
        listing.add_argument("--status", choices=Bot.Status.values)
        for action in Action:
            one = sub.add_parser(str(action), help=f"{action} one bot")
            one.add_argument("bot_id", type=int)
            if action == Action.STOP:
                one.add_argument("--close-positions", action="store_true")
            if action == Action.PAUSE:
                one.add_argument("--reason", default="paused by an operator")
        ticking = sub.add_parser("tick", help="one engine tick of a running bot now")
        ticking.add_argument("bot_id", type=int)

    def handle(self, *args, **options) -> None:
        if options["action"] == "list":
            self._list(options)
            return
        if options["action"] == "tick":
            self._tick(options["bot_id"])
            return
        try:
            _bot, message = services.bot_transition(
                bot_id=options["bot_id"],
                action=options["action"],
                reason=options.get("reason") or "",
                close_positions=options.get("close_positions", False),
            )
        except NotFound:
            raise CommandError(f"no bot {options['bot_id']}") from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(message)

    def _tick(self, bot_id: int) -> None:
        from bots.engine.tick import tick_bot

        bot = Bot.objects.alive().filter(pk=bot_id).first()
        if bot is None:
            raise CommandError(f"no bot {bot_id}")
        report = tick_bot(bot_id)
        if not report.claimed:
            why = f"it is {bot.status}" if bot.status != Bot.Status.RUNNING else "a worker is ticking it right now"
            raise CommandError(f"bot {bot_id} was not ticked: {why}")
        bot.refresh_from_db()
        said = report.refused.get(bot_id, "")
        self.stdout.write(
            f"Bot {bot_id} ticked: {report.orders} order(s), {report.fills} fill(s)"
            + (f", no order because {said}" if said else "")
            + (f"; last error: {bot.last_error}" if report.errors else "")
            + (f"; paused: {bot.paused_reason}" if bot_id in report.paused else "")
        )

    def _list(self, options) -> None:
        queryset = Bot.objects.alive().select_related("owner").order_by("pk")
        if options.get("user"):
            user = options["user"]
            queryset = (
                queryset.filter(owner_id=int(user)) if user.isdigit() else queryset.filter(owner__email__iexact=user)
            )
        if options.get("status"):
            queryset = queryset.filter(status=options["status"])
        self.stdout.write(f"{'id':>6}  {'status':8} {'mode':5} {'venue':10} {'symbol':12} {'profit':>14}  name (owner)")
        count = 0
        for bot in queryset.iterator(chunk_size=500):
            flags = (" [force-paused]" if bot.force_paused else "") + (" [training]" if bot.in_training else "")
            self.stdout.write(
                f"{bot.pk:>6}  {bot.status:8} {bot.trading_mode:5} {bot.exchange:10} {bot.symbol:12} "
                f"{bot.realized_pnl.normalize():>14f}  {bot.name} ({bot.owner.email}){flags}"
            )
            count += 1
        self.stdout.write(f"{count} bot(s)")
