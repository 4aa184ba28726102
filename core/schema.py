"""OpenAPI: every operation documents the error envelope for the statuses it can return."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. VALIDATION_ERROR.")
    message = serializers.CharField(help_text="A sentence for people; names the offending field.")
    details = serializers.DictField(help_text="Per-field errors or extra context.")
    timestamp = serializers.DateTimeField()
    request_id = serializers.CharField(help_text="Also in the X-Request-ID header.")


class ErrorSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=False)
    error = ErrorDetailSerializer()


_WRITE_METHODS = {"POST", "PUT", "PATCH"}


class AutoSchema(SpectacularAutoSchema):
    def _get_response_bodies(self, direction: str = "response"):
        responses = super()._get_response_bodies(direction)
        error = OpenApiResponse(ErrorSerializer, description="Error envelope")
        statuses = ["429", "500", "503"]
        if self.method in _WRITE_METHODS:
            statuses += ["400", "413", "415"]
        elif any(p.get("in") == "query" for p in self._get_parameters()):
            statuses.append("400")  # a malformed filter (a date, a number) is a 400, not ignored
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            statuses += ["401", "403"]
        if "{" in self.path:
            statuses.append("404")
        # A view names what else it can answer: a list for every method, or {method: [...]}.
        extra = getattr(self.view, "extra_error_statuses", [])
        statuses += extra.get(self.method, []) if isinstance(extra, dict) else extra
        for code in statuses:
            if code not in responses:
                responses[code] = self._get_response_for_code(error, code, direction=direction)
        return responses
