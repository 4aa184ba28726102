"""``manage.py purge_events``: delete published events older than the retention."""

from django.conf import settings
from django.core.management.base import BaseCommand

from realtime.services import events_purge


class Command(BaseCommand):
    help = "Delete published events older than EVENT_RETENTION_DAYS (or --days)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help=f"default {settings.EVENT_RETENTION_DAYS}")

    def handle(self, *args, **options):
        deleted = events_purge(older_than_days=options["days"])
        self.stdout.write(f"purged {deleted} events")
