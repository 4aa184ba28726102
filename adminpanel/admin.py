"""Staff powers in the admin: bots (overrides, force-pause, release, stop), users
(enable/disable, staff flag, unlock, usage columns) and a filterable audit log.

The model admins of ``bots`` and ``accounts`` are replaced here by subclasses (adminpanel
may import every app; no app imports adminpanel). Every action goes through
``adminpanel.services``, so each is one transaction, audited with before/after, and
recorded as an event.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts import admin as accounts_admin
from accounts.models import AuditEntry, User
from adminpanel import selectors, services
from adminpanel.rules import COUNT_RULES, FRACTION_RULES, RulesError, validate_rules
from bots import admin as bots_admin
from bots.models import Bot
from core.errors import ApplicationError


def _action(description: str, call, verb: str):
    """An admin action calling ``call(request, obj)`` (a service) for each selected row.

    Rows a service refuses (409, 404, ...) are reported and skipped; the others proceed.
    """

    def action(modeladmin, request, queryset):
        done, failed = 0, []
        for obj in queryset.order_by("pk"):
            try:
                call(request, obj)
                done += 1
            except ApplicationError as exc:
                failed.append(f"{obj}: {exc.message}")
        if done:
            modeladmin.message_user(request, f"{done} {verb}.", messages.SUCCESS)
        for reason in failed:
            modeladmin.message_user(request, reason, messages.WARNING)

    return admin.action(description=description)(action)


# ---------------------------------------------------------------------------
# Bots
# ---------------------------------------------------------------------------
class OverrideForm(forms.Form):
    """The override rules of one bot, validated by ``adminpanel.rules`` (known keys, ranges)."""

    position_size_pct = forms.DecimalField(required=False, help_text="fraction of capital per entry, in (0, 1]")
    stop_loss_pct = forms.DecimalField(required=False, help_text="fraction, in (0, 1)")
    take_profit_pct = forms.DecimalField(required=False, help_text="fraction, in (0, 1)")
    max_daily_trades = forms.IntegerField(required=False, help_text="fills per UTC day, ≥ 0")
    max_open_positions = forms.IntegerField(required=False, help_text="≥ 0")
    force_pause = forms.ChoiceField(
        choices=(("", "leave as is"), ("pause", "force-pause now"), ("release", "release")), required=False
    )
    reason = forms.CharField(required=False, max_length=300)

    RULE_FIELDS = (*FRACTION_RULES, *COUNT_RULES)

    def clean(self):
        cleaned = super().clean()
        raw = {key: cleaned.get(key) for key in self.RULE_FIELDS if key not in self.errors}
        try:
            cleaned["rules"] = validate_rules(raw)
        except RulesError as exc:
            for key, message in exc.errors.items():
                self.add_error(key if key in self.fields else None, message)
        return cleaned


admin.site.unregister(Bot)


@admin.register(Bot)
class BotAdmin(bots_admin.BotAdmin):
    list_display = (
        "id",
        "name",
        "owner",
        "exchange",
        "symbol",
        "trading_mode",
        "status",
        "in_training",
        "force_paused",
        "profit",
        "trades_today",
        "total_trades",
        "override_link",
    )
    list_filter = ("status", "trading_mode", "exchange", "in_training", "force_paused", "strategy")
    search_fields = ("name", "owner__email", "symbol")
    list_select_related = ("owner",)
    list_per_page = 50
    actions = ("force_pause_selected", "release_selected", "stop_selected")
    readonly_fields = ("override_rules",)

    def get_queryset(self, request):
        return selectors.with_today(super().get_queryset(request).filter(deleted_at__isnull=True))

    @admin.display(description="profit", ordering="realized_pnl")
    def profit(self, bot: Bot) -> str:
        return f"{bot.realized_pnl:.2f} {bot.quote_currency}"

    @admin.display(description="trades today", ordering="trades_today")
    def trades_today(self, bot: Bot) -> int:
        return bot.trades_today

    @admin.display(description="overrides")
    def override_link(self, bot: Bot) -> str:
        label = ", ".join(f"{k}={v}" for k, v in (bot.override_rules or {}).items()) or "edit"
        return format_html('<a href="{}">{}</a>', reverse("admin:bots_bot_override", args=[bot.pk]), label)

    def get_urls(self):
        urls = [
            path(
                "<int:bot_id>/override/",
                self.admin_site.admin_view(self.override_view),
                name="bots_bot_override",
            )
        ]
        return urls + super().get_urls()

    def override_view(self, request, bot_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        bot = get_object_or_404(Bot.objects.alive().select_related("owner"), pk=bot_id)
        initial = {**bot.override_rules}
        form = OverrideForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            choice = form.cleaned_data.get("force_pause")
            try:
                services.bot_override(
                    actor=request.user,
                    bot_id=bot.pk,
                    rules=form.cleaned_data["rules"],
                    force_pause={"pause": True, "release": False}.get(choice),
                    reason=form.cleaned_data.get("reason", ""),
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Overrides of '{bot.name}' saved.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:bots_bot_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Overrides: {bot.name}",
            "bot": bot,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/botfleet/override.html", context)

    force_pause_selected = _action(
        "Force-pause selected bots (owner cannot resume)",
        lambda request, bot: services.bot_force_pause(actor=request.user, bot_id=bot.pk, reason="paused by staff"),
        "bot(s) force-paused",
    )
    release_selected = _action(
        "Release selected bots from force-pause",
        lambda request, bot: services.bot_release(actor=request.user, bot_id=bot.pk),
        "bot(s) released",
    )
    stop_selected = _action(
        "Stop selected bots",
        lambda request, bot: services.bot_staff_stop(actor=request.user, bot_id=bot.pk),
        "bot(s) stopped",
    )


# ---------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(accounts_admin.UserAdmin):
    list_display = (
        "email",
        "username",
        "is_staff",
        "is_active",
        "is_verified",
        "usage_bots",
        "usage_trades",
        "usage_events",
        "usage_backtests",
        "usage_backtest_candles",
        "usage_storage",
        "date_joined",
    )
    list_select_related = ("usage",)
    list_per_page = 50
    show_full_result_count = False
    actions = ("disable_selected", "enable_selected", "unlock_selected", "make_staff", "remove_staff")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:  # flags change through the audited actions
            fields += ["is_active", "is_staff"]
        return fields

    def _usage(self, user: User, kind: str) -> int:
        usage = getattr(user, "usage", None)  # joined by list_select_related; None when no row yet
        return getattr(usage, kind, 0) if usage is not None else 0

    @admin.display(description="bots", ordering="usage__bots")
    def usage_bots(self, user: User) -> int:
        return self._usage(user, "bots")

    @admin.display(description="trades", ordering="usage__trades")
    def usage_trades(self, user: User) -> int:
        return self._usage(user, "trades")

    @admin.display(description="events", ordering="usage__events")
    def usage_events(self, user: User) -> int:
        return self._usage(user, "events")

    @admin.display(description="backtests", ordering="usage__backtests")
    def usage_backtests(self, user: User) -> int:
        return self._usage(user, "backtests")

    @admin.display(description="backtest candles", ordering="usage__backtest_candles")
    def usage_backtest_candles(self, user: User) -> int:
        return self._usage(user, "backtest_candles")

    @admin.display(description="storage MB")
    def usage_storage(self, user: User) -> float:
        sizes = selectors.row_sizes()
        total = sum(self._usage(user, kind) * sizes[kind] for kind in sizes)
        return round(total / selectors.MB, 3)

    disable_selected = _action(
        "Disable selected accounts (403 ACCOUNT_DISABLED)",
        lambda request, u: services.user_set_active(actor=request.user, user_id=u.pk, active=False),
        "account(s) disabled",
    )
    enable_selected = _action(
        "Enable selected accounts",
        lambda request, u: services.user_set_active(actor=request.user, user_id=u.pk, active=True),
        "account(s) enabled",
    )
    unlock_selected = _action(
        "Unlock selected accounts after a login lockout",
        lambda request, u: services.user_unlock(actor=request.user, user_id=u.pk),
        "account(s) unlocked",
    )
    make_staff = _action(
        "Give selected accounts the staff flag",
        lambda request, u: services.user_set_staff(actor=request.user, user_id=u.pk, staff=True),
        "account(s) made staff",
    )
    remove_staff = _action(
        "Remove the staff flag from selected accounts",
        lambda request, u: services.user_set_staff(actor=request.user, user_id=u.pk, staff=False),
        "account(s) no longer staff",
    )


# ---------------------------------------------------------------------------
# Audit log
# ---------------------------------------------------------------------------
class _InputFilter(admin.SimpleListFilter):
    """A free-text filter (a big table has too many actors and targets to list)."""

    template = "admin/botfleet/input_filter.html"

    def lookups(self, request, model_admin):
        return ((None, None),)  # the template draws a text box; Django needs one lookup

    def choices(self, changelist):
        query = changelist.get_query_string(remove=[self.parameter_name])
        yield {"query_string": query, "parameter_name": self.parameter_name, "value": self.value() or ""}


class ActorFilter(_InputFilter):
    title = "actor (id or email)"
    parameter_name = "actor"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        return (
            queryset.filter(actor_id=int(value)) if value.isdigit() else queryset.filter(actor_email__icontains=value)
        )


class TargetFilter(_InputFilter):
    title = "target (type or type#id)"
    parameter_name = "target"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        target_type, _, target_id = value.partition("#")
        queryset = queryset.filter(target_type=target_type.strip())
        return queryset.filter(target_id=target_id.strip()) if target_id.strip() else queryset


admin.site.unregister(AuditEntry)


@admin.register(AuditEntry)
class AuditEntryAdmin(accounts_admin.AuditEntryAdmin):
    """Read-only; filter by actor, action, target and date (the date hierarchy)."""

    list_display = ["created_at", "actor_email", "action", "target_type", "target_id", "ip_address", "request_id"]
    list_filter = [ActorFilter, "action", TargetFilter, "target_type", "created_at"]
    show_full_result_count = False
    list_per_page = 100
    fields = readonly_fields = [
        "created_at",
        "actor",
        "actor_email",
        "action",
        "target_type",
        "target_id",
        "data",
        "ip_address",
        "request_id",
    ]
    raw_id_fields = ["actor"]
