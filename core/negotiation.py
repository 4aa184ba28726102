"""Content negotiation that skips the Accept-header parsing when there is nothing to choose."""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    """A view with one renderer (every API view: JSON) answers in it whatever the client
    accepts, as an error body would anyway; views with several (the schema) negotiate."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if len(renderers) == 1 and not format_suffix and self.settings.URL_FORMAT_OVERRIDE not in request.query_params:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
