"""``manage.py training list [--user EMAIL|ID]``, ``training promote ID [--force --reason TEXT]``
and ``training check`` (record due ``training_eligible`` events now).

Promotion goes through the same service as the API (audited, with an event); the
operator acts as the system, so every rule but the countdown (``--force``) still applies.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.errors import ApplicationError, NotFound
from training import selectors, services


class Command(BaseCommand):
    help = "List the training bay or promote a bot out of it."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List bots in the training bay with their countdowns.")
        listing.add_argument("--user", help="owner email or id")
        promote = sub.add_parser("promote", help="Promote one bot whose countdown is complete.")
        promote.add_argument("bot_id", type=int)
        promote.add_argument("--force", action="store_true", help="waive the countdown (needs --reason)")
        promote.add_argument("--reason", default="")
        sub.add_parser("check", help="Record training_eligible for bots whose countdown completed.")

    def handle(self, *args, **options) -> None:
        action = options["action"]
        if action == "list":
            self._list(options)
        elif action == "check":
            self.stdout.write(f"{services.training_eligibility_check()} bot(s) became eligible")
        else:
            self._promote(options)

    def _list(self, options) -> None:
        queryset = selectors.bay_queryset().select_related("owner").order_by("training_started_at", "pk")
        user = options.get("user")
        if user:
            queryset = (
                queryset.filter(owner_id=int(user)) if user.isdigit() else queryset.filter(owner__email__iexact=user)
            )
        now = timezone.now()
        self.stdout.write(
            f"{'id':>6}  {'name':<24} {'owner':<28} {'exchange':<12} {'status':<8} {'elapsed':>8} {'left':>7}  eligible"
        )
        count = 0
        for bot in queryset:
            clock = selectors.countdown(bot, now=now)
            self.stdout.write(
                f"{bot.pk:>6}  {bot.name[:24]:<24} {bot.owner.email[:28]:<28} {bot.exchange[:12]:<12} "
                f"{bot.status:<8} {clock.hours_elapsed:>7.1f}h {clock.hours_remaining:>6.1f}h  "
                f"{'yes' if clock.eligible else 'no'}"
            )
            count += 1
        self.stdout.write(f"{count} bot(s) in the training bay; minimum {selectors.min_training_hours():g} h")

    def _promote(self, options) -> None:
        if options["force"] and not options["reason"].strip():
            raise CommandError("--force needs --reason (it goes to the audit log)")
        try:
            result = services.bot_promote(
                bot_id=options["bot_id"],
                source=services.SOURCE_OPERATOR,
                force=options["force"],
                reason=options["reason"].strip(),
            )
        except NotFound:
            raise CommandError(f"no bot {options['bot_id']}") from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(result.message)
