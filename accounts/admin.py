from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm

from accounts import services
from accounts.models import AuditEntry, User


class SessionEndingPasswordForm(AdminPasswordChangeForm):
    """The admin's password page: a new (or unusable) password ends the account's sessions."""

    def save(self, commit=True):
        user = super().save(commit=False)
        if commit:
            services.user_password_set_by_staff(user=user)
        return user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    change_password_form = SessionEndingPasswordForm
    ordering = ["email"]
    list_display = ["email", "username", "full_name", "is_staff", "is_active", "is_verified", "date_joined"]
    list_filter = ["is_staff", "is_active", "is_verified"]
    search_fields = ["email", "username", "full_name"]
    readonly_fields = ["last_login", "date_joined", "token_version"]
    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "full_name", "phone", "is_verified")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined", "token_version")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2")}),)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit trail is append-only: nobody edits or deletes it from the admin."""

    list_display = ["created_at", "actor_email", "action", "target_type", "target_id", "ip_address"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_email", "action", "target_id", "request_id"]
    date_hierarchy = "created_at"
    list_select_related = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
