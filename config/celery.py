"""The Celery app. Its beat schedule lives in one place: ``config.schedule``."""

import os

from celery import Celery
from celery.signals import beat_init, task_postrun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("botfleet")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _ensure_filesystem_broker_folders() -> None:
    """kombu's filesystem transport expects its folders to exist (embedded mode)."""
    from pathlib import Path

    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key]).mkdir(parents=True, exist_ok=True)


@app.on_after_configure.connect
def _prepare_broker(sender: Celery, **kwargs) -> None:
    _ensure_filesystem_broker_folders()


@app.on_after_finalize.connect
def _install_beat_schedule(sender: Celery, **kwargs) -> None:
    from config.schedule import beat_schedule

    sender.conf.beat_schedule = beat_schedule()


@task_postrun.connect
def _drop_broken_db_connections(task=None, **kwargs) -> None:
    """With ``CELERY_DB_REUSE_MAX`` Celery keeps a task's database connection for the
    next ones and closes it only every few thousand tasks, so a connection the server
    dropped (a restart, ``pg_terminate_backend``) failed every later task of that
    process. After each task, close a connection that saw an error and no longer
    answers, or that is past ``CONN_MAX_AGE`` (what Django does after each request);
    a healthy one is kept, with no extra query."""
    from django.db import connections

    if task is not None and getattr(task.request, "is_eager", False):
        return  # an eager task runs inside its caller's transaction: not ours to close
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            continue
        try:
            conn.close_if_unusable_or_obsolete()
        except Exception:  # closing a dead connection must not fail the worker
            conn.connection = None


@worker_ready.connect
def _log_worker_started(sender=None, **kwargs) -> None:
    from core.flags import log_feature_flags

    log_feature_flags("worker")


@beat_init.connect
def _log_beat_started(sender=None, **kwargs) -> None:
    import logging

    from django.conf import settings

    from core.flags import log_feature_flags

    log_feature_flags("beat")
    log = logging.getLogger("botfleet.engine")
    _start_engine_watchdog()
    if settings.ENABLE_SCHEDULERS:
        log.info("Bot dispatch started: due bots are sent to workers in batches")
    else:
        log.info("Bot dispatch off (ENABLE_SCHEDULERS is off); housekeeping only")


def _start_engine_watchdog() -> None:
    """The watchdog runs in beat, not in a worker: it must notice when no worker runs."""
    from notifications import watchdog

    watchdog.start_thread()
