"""OpenAPI: every operation documents the error envelope for the statuses it can return."""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
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


class BotfleetJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"


class OpsTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.ops.OpsTokenAuthentication"
    name = "opsToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The OPS_TOKEN setting, for monitors and Prometheus (metrics, version, status detail).",
        }
