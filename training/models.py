"""The training bay's own records. The quarantine itself is fields on ``bots.Bot``
(``in_training``, ``training_started_at``, ``promoted_at``), set by ``bots`` when a bot
enters live mode and changed here at promotion.
"""

from __future__ import annotations

from django.db import models

from bots.models import Bot


class TrainingBot(Bot):
    """Bot as the training-bay admin page sees it (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "bot in the training bay"
        verbose_name_plural = "training bay"


class TrainingReview(models.Model):
    """What the periodic checks already said about one quarantine period of one bot.

    A period is identified by ``(bot, training_started_at)``: switching a bot from paper
    to live again starts a new period, and so a new review. The unique constraint is
    what makes ``training_eligible`` fire exactly once per period however many checks
    run concurrently, and lets autopilot record a skip only when its reasons change.
    """

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="training_reviews")
    training_started_at = models.DateTimeField()
    eligible_notified_at = models.DateTimeField(null=True, blank=True)
    # Codes of the last autopilot skip (sorted), so an unchanged verdict is not re-recorded.
    autopilot_reasons = models.JSONField(default=list, blank=True)
    autopilot_decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "training_started_at"], name="training_review_period_unique")
        ]

    def __str__(self) -> str:
        return f"bot {self.bot_id} from {self.training_started_at:%Y-%m-%d %H:%M}"
