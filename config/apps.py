"""The project's own app config: what ``manage.py migrate`` must set up beyond migrations."""

from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def create_cache_tables(using: str = "default", **kwargs) -> None:
    """Django's database cache table, in whichever database the router gives it.

    The embedded mode keeps the cache in its own SQLite file, which no migration
    touches; without this only ``createcachetable`` made it, so after a bare
    ``migrate`` every cache call failed (``ready`` said "cache down", throttles and
    lockouts silently stopped counting). Idempotent; a no-op with the Redis cache.
    """
    from django.core.management import call_command
    from django.db import connections

    for alias in connections:
        call_command("createcachetable", database=alias, verbosity=0)


class BotfleetConfig(AppConfig):
    name = "config"
    label = "botfleet_config"
    verbose_name = "Botfleet"

    def ready(self) -> None:
        # Sent once per migrate for this app (it has a models module for that reason).
        post_migrate.connect(create_cache_tables, sender=self, dispatch_uid="botfleet.create_cache_tables")
