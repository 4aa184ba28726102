"""``manage.py engine status``: is the engine trading, and what is it doing?"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from bots import selectors
from bots.models import Bot, FleetHalt, Order, WorkerHeartbeat
from core.flags import feature_flags_line


class Command(BaseCommand):
    help = "Engine status: workers, due and leased bots, orders in flight, flags, fleet halt."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="print the engine's state")

    def handle(self, *args, **options) -> None:
        now = timezone.now()
        status = selectors.engine_status()
        running = Bot.objects.alive().filter(status=Bot.Status.RUNNING)
        halt = FleetHalt.current()
        out = self.stdout.write
        out(f"Engine: {status['status']} ({status['workers']} worker(s); last heartbeat {status['last_heartbeat']})")
        fresh = now - timedelta(seconds=WorkerHeartbeat.ONLINE_SECONDS)
        for beat in WorkerHeartbeat.objects.order_by("name"):
            state = "online" if beat.last_seen >= fresh else "offline"
            out(f"  {beat.name:40} {state:7} last seen {beat.last_seen:%Y-%m-%d %H:%M:%S} UTC (pid {beat.pid})")
        out(
            f"Bots: {running.count()} running, {running.filter(next_tick_at__lte=now).count()} due, "
            f"{running.filter(claimed_until__gte=now).count()} leased by a worker"
        )
        inflight = Order.objects.filter(status__in=Order.OPEN_STATUSES)
        out(
            f"Orders in flight: {inflight.count()} "
            f"({inflight.filter(status=Order.Status.UNKNOWN).count()} with unknown outcome)"
        )
        out(feature_flags_line())
        out(f"Fleet halt: {'ON — ' + (halt.reason or 'no reason given') if halt.halted else 'off'}")
