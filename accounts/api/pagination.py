"""List bodies: ``{success, <plural>: [...], total, next, previous}`` (API.md)."""

from __future__ import annotations

from rest_framework import pagination
from rest_framework.response import Response


class PageNumberPagination(pagination.PageNumberPagination):
    """Page links; the view names the list key with ``list_key`` (e.g. ``"bots"``)."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        self.list_key = getattr(view, "list_key", "results")
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data) -> Response:
        return Response(
            {
                "success": True,
                self.list_key: data,
                "total": self.page.paginator.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
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
