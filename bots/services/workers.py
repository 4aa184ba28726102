"""Worker heartbeats: what the engine writes about itself."""

from __future__ import annotations

from django.utils import timezone

from bots.models import WorkerHeartbeat


def worker_heartbeat(*, name: str, hostname: str = "", pid: int | None = None, info: dict | None = None) -> None:
    """An engine worker says it is alive (``GET status`` is online while one beat in 30 s)."""
    WorkerHeartbeat.objects.update_or_create(
        name=name,
        defaults={"hostname": hostname, "pid": pid, "last_seen": timezone.now(), "info": info or {}},
        create_defaults={"hostname": hostname, "pid": pid, "info": info or {}},
    )
