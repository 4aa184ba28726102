"""Botfleet's admin site: the fleet dashboard as its index, plus staff pages.

Installed as the default site (``adminpanel.apps.BotfleetAdminConfig``), so every
app's ``@admin.register`` lands here. Pages beyond the model admins:

* ``/admin/`` — the fleet dashboard (bots by status and mode, trades today, engine,
  flags, the fleet-halt switch, the training bay, recent audit entries);
* ``/admin/fleet-halt/`` — turn the fleet halt on or off (POST, through the service);
* ``/admin/resources/`` — resource usage per user, sortable, with system totals.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse


class BotfleetAdminSite(admin.AdminSite):
    site_header = "Botfleet administration"
    site_title = "Botfleet admin"
    index_title = "Fleet"
    index_template = "admin/botfleet/dashboard.html"

    def get_urls(self):
        extra = [
            path("fleet-halt/", self.admin_view(self.fleet_halt_view), name="fleet-halt"),
            path("resources/", self.admin_view(self.resources_view), name="resources"),
        ]
        return extra + super().get_urls()

    def index(self, request, extra_context=None):
        from adminpanel import selectors

        context = {"fleet": selectors.fleet_dashboard(), **(extra_context or {})}
        return super().index(request, extra_context=context)

    def fleet_halt_view(self, request):
        """POST ``halted`` (``1``/``0``) and ``reason``: the switch, through ``fleet_halt_set``."""
        from adminpanel import services

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        halted = request.POST.get("halted") in ("1", "true", "on")
        services.fleet_halt_set(actor=request.user, halted=halted, reason=request.POST.get("reason", ""))
        messages.success(
            request, "Fleet halted: no live order will leave." if halted else "Fleet halt lifted: live trading resumes."
        )
        return HttpResponseRedirect(reverse("admin:index"))

    def resources_view(self, request):
        """Usage per user, sortable by any column (``?o=-total_storage_mb``), paginated."""
        from accounts.usage import KINDS
        from adminpanel import selectors

        sort = request.GET.get("o") or selectors.DEFAULT_USAGE_SORT
        try:
            queryset = selectors.user_usage_list(sort=sort, search=request.GET.get("q", "").strip())
        except selectors.UnknownSort:
            sort = selectors.DEFAULT_USAGE_SORT
            queryset = selectors.user_usage_list(sort=sort)
        page = Paginator(queryset, 50).get_page(request.GET.get("p"))
        sizes = selectors.row_sizes()
        rows = [selectors.user_usage_row(user, sizes) for user in page.object_list]
        current = sort.lstrip("-")

        def header(column: str, label: str) -> dict:
            descending = sort == f"-{column}"
            next_sort = column if descending else f"-{column}"
            return {"label": label, "sort": next_sort, "active": current == column, "descending": descending}

        columns = [header("user_id", "User"), header("email", "Email")]
        for kind in KINDS:
            label = kind.replace("_", " ")
            columns += [header(kind, label), header(f"{kind}_mb", f"{label} MB")]
        columns.append(header("total_storage_mb", "Total MB"))
        context = {
            **self.each_context(request),
            "title": "Resource usage",
            "kinds": KINDS,
            "columns": columns,
            "rows": rows,
            "page": page,
            "sort": sort,
            "q": request.GET.get("q", ""),
            "totals": selectors.system_totals(),
        }
        return TemplateResponse(request, "admin/botfleet/resources.html", context)
