"""``manage.py relay_events``: the production relay (one active; more wait as standbys)."""

from __future__ import annotations

import asyncio
import signal

from django.core.management.base import BaseCommand

from realtime.relay import Relay, relay_status


class Command(BaseCommand):
    help = "Publish committed events to the channel layer (one active relay; others stand by)."

    def add_arguments(self, parser):
        parser.add_argument("--status", action="store_true", help="Print the lease, heartbeat and backlog, then exit.")

    def handle(self, *args, **options):
        if options["status"]:
            for key, value in relay_status().items():
                self.stdout.write(f"{key}: {value}")
            return
        asyncio.run(self._run())

    async def _run(self) -> None:
        relay = Relay()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, relay.stop)
        self.stdout.write(f"relay {relay.name}: waiting for the lease", ending="\n")
        await relay.run()
        self.stdout.write(f"relay {relay.name}: stopped after publishing {relay.published} events")
