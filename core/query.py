"""Query-parameter serializers: a filter sent empty is an error, not a filter left out."""

from __future__ import annotations

from rest_framework import serializers


class QuerySerializer(serializers.Serializer):
    """DRF reads ``?mode=`` on an optional field as if the parameter were absent, so a
    form that sends an empty choice silently gets unfiltered rows while the OpenAPI
    schema says the value must be one of the choices (or a date). Here it is a 400
    naming the parameter."""

    def to_internal_value(self, data):
        blank = [
            name
            for name, field in self.fields.items()
            if not field.read_only and hasattr(data, "get") and data.get(name) == ""
        ]
        if blank:
            raise serializers.ValidationError(
                {name: ["may not be empty; leave the parameter out instead"] for name in blank}
            )
        return super().to_internal_value(data)
