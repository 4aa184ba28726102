"""Thin Celery entry points for accounts."""

from __future__ import annotations

from celery import shared_task


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def password_reset_mail(email: str) -> bool:
    from accounts.services.password_reset import password_reset_send

    return password_reset_send(email=email)
