"""List bodies: ``{success, <plural>: [...], total, next, previous}`` (API.md)."""

from __future__ import annotations

from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.response import Response


class PageNumberPagination(pagination.PageNumberPagination):
    """Page links; the view names the list key with ``list_key`` (e.g. ``"bots"``)."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        self.list_key = getattr(view, "list_key", "results")
        return super().paginate_queryset(queryset, request, view)

    def paginate_fetched(self, fetch, request, view=None) -> list:
        """``paginate_queryset`` for a query that returns one page and the total at once.

        ``fetch(limit, offset)`` returns ``(rows, total)``, ``total`` being ``None``
        for an empty page. Saves the separate ``COUNT`` round trip; the answers,
        links and "Invalid page." errors are those of ``paginate_queryset``.
        """
        self.request = request
        self.list_key = getattr(view, "list_key", "results")
        page_size = self.get_page_size(request)
        raw = request.query_params.get(self.page_query_param) or 1
        if raw in self.last_page_strings:
            _, total = fetch(1, 0)
            number = max(1, -(-(total or 0) // page_size))
        else:
            try:
                number = int(raw)
            except (TypeError, ValueError):
                raise NotFound(self.invalid_page_message) from None
            if not 1 <= number <= self._MAX_PAGE:
                raise NotFound(self.invalid_page_message)
        rows, total = fetch(page_size, (number - 1) * page_size)
        if not rows and number > 1:
            raise NotFound(self.invalid_page_message)
        paginator = self.django_paginator_class([], page_size)
        paginator.count = total or 0  # a cached_property: set, never computed
        self.page = paginator.page(number)
        self.page.object_list = rows
        return rows

    # Past this, an OFFSET would overflow the database's integer; nothing is there anyway.
    _MAX_PAGE = 10**9

    def get_paginated_response(self, data, **extra) -> Response:
        """The page's body; ``extra`` adds fields of the view's own."""
        return Response(
            {
                "success": True,
                self.list_key: data,
                "total": self.page.paginator.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                **extra,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["success", "total"],
            "properties": {
                "success": {"type": "boolean", "enum": [True]},
                "total": {"type": "integer"},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }
