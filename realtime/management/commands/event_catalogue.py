"""``manage.py event_catalogue``: every registered event type and its payload, as markdown."""

from django.core.management.base import BaseCommand

from realtime.catalogue import catalogue_markdown


class Command(BaseCommand):
    help = "Print the event catalogue (types, SSE categories, payload shapes) as markdown."

    def handle(self, *args, **options):
        self.stdout.write(catalogue_markdown())
