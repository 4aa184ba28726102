"""Celery entry points of the training bay: thin, idempotent, each calls one service."""

from __future__ import annotations

from celery import shared_task

from training import services


@shared_task(acks_late=True, ignore_result=True, time_limit=120, soft_time_limit=100)
def training_eligibility_check_task() -> int:
    """Idempotent: a bot's ``training_eligible`` is recorded once, whoever runs the check."""
    return services.training_eligibility_check()


@shared_task(acks_late=True, ignore_result=True, time_limit=300, soft_time_limit=270)
def autopilot_run_task() -> dict:
    """Idempotent: a promoted bot leaves the bay; an unchanged verdict is not recorded twice."""
    return services.autopilot_run()
