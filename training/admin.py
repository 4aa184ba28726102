"""The training-bay page of the Django admin: countdowns, promotion and forced promotion.

Registered on ``admin.site``, which ``adminpanel`` makes its custom site
(``AdminConfig.default_site``), so the page appears there. Actions call the services:
a promotion is audited and emitted exactly as from the API.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils import timezone

from core.errors import ApplicationError
from training import selectors, services
from training.models import TrainingBot


class ForcePromoteForm(forms.Form):
    reason = forms.CharField(
        max_length=300, widget=forms.Textarea(attrs={"rows": 3}), help_text="Why the countdown is waived (audited)."
    )


class EligibleFilter(admin.SimpleListFilter):
    title = "countdown"
    parameter_name = "eligible"

    def lookups(self, request, model_admin):
        return [("yes", "complete"), ("no", "running")]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        cutoff = timezone.now() - timedelta(hours=selectors.min_training_hours())
        complete = {"training_started_at__lte": cutoff}
        return queryset.filter(**complete) if self.value() == "yes" else queryset.exclude(**complete)


@admin.register(TrainingBot)
class TrainingBotAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "owner",
        "exchange",
        "symbol",
        "status",
        "training_started_at",
        "hours_elapsed",
        "hours_remaining",
        "eligible",
        "total_trades",
        "realized_pnl",
    )
    list_filter = (EligibleFilter, "status", "exchange")
    search_fields = ("name", "owner__email", "symbol")
    list_select_related = ("owner",)
    ordering = ("training_started_at", "id")
    show_full_result_count = False
    actions = ["promote", "force_promote"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=selectors.bay_queryset().values("pk"))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="hours elapsed")
    def hours_elapsed(self, bot) -> float:
        return selectors.countdown(bot).hours_elapsed

    @admin.display(description="hours left")
    def hours_remaining(self, bot) -> float:
        return selectors.countdown(bot).hours_remaining

    @admin.display(description="eligible", boolean=True)
    def eligible(self, bot) -> bool:
        return selectors.countdown(bot).eligible

    def _promote_each(self, request, queryset, *, reason: str = "") -> None:
        done, refused = [], []
        for bot in queryset.order_by("pk"):
            try:
                if reason:
                    result = services.bot_force_promote(staff=request.user, bot_id=bot.pk, reason=reason)
                else:
                    result = services.bot_promote(bot_id=bot.pk, actor=request.user, source=services.SOURCE_STAFF)
            except ApplicationError as exc:
                refused.append(exc.message)
                continue
            done.append(result.message if result.promoted else f"{bot.name}: already promoted")
        for message in done:
            self.message_user(request, message, messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description="Promote selected bots whose countdown is complete")
    def promote(self, request, queryset):
        self._promote_each(request, queryset)

    @admin.action(description="Force-promote selected bots now (asks for a reason)")
    def force_promote(self, request, queryset):
        form = ForcePromoteForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self._promote_each(request, queryset, reason=form.cleaned_data["reason"])
            return None
        bots = list(queryset.select_related("owner").order_by("pk"))
        for bot in bots:
            bot.hours_remaining = selectors.countdown(bot).hours_remaining
        context = {
            **self.admin_site.each_context(request),
            "title": "Force promotion out of the training bay",
            "opts": self.model._meta,
            "bots": bots,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/training/trainingbot/force_promote.html", context)
