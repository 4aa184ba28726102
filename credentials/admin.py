"""Credentials in the admin: read-only and masked (the hint and the field names, no secret)."""

from django.contrib import admin

from credentials.models import PUBLIC_FIELDS, Credential


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "provider", "purpose", "label", "api_key_hint", "fields_set", "last_test_ok")
    list_filter = ("provider", "purpose", "last_test_ok")
    search_fields = ("owner__email", "provider", "label")
    list_select_related = ("owner",)
    # Only plaintext columns: the secret fields are neither shown nor in the form.
    fields = readonly_fields = ("owner", *PUBLIC_FIELDS[1:], "last_test_message")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the change page still renders read-only with view permission

    def has_delete_permission(self, request, obj=None):
        return False  # users delete their keys through the API, which checks running bots
