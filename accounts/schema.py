"""OpenAPI descriptions of the accounts app's authentication classes.

drf-spectacular registers an extension when its class is defined, so ``AccountsConfig.ready``
imports this module.
"""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BotfleetJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"


class OpsTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.ops.OpsTokenAuthentication"
    name = "opsToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The OPS_TOKEN setting, for monitors and Prometheus (metrics, version, status detail).",
        }
