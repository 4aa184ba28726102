from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm

from accounts import policy, services
from accounts.models import AccountPolicy, ApiToken, AuditEntry, User


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


@admin.register(AccountPolicy)
class AccountPolicyAdmin(admin.ModelAdmin):
    """Site-wide account rules (one row): e.g. staff must use two-factor sign-in."""

    list_display = ["__str__", "require_two_factor_for_staff"]

    def has_add_permission(self, request):
        return not AccountPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = AccountPolicy.SINGLETON_ID
        super().save_model(request, obj, form, change)
        services.audit_record(
            actor=request.user,
            action="admin.account_policy_changed",
            target=obj,
            data={"require_two_factor_for_staff": obj.require_two_factor_for_staff},
        )
        policy.forget()


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are shown by name, prefix and scopes; staff may revoke but never read one."""

    list_display = ["name", "user", "prefix", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__email"]
    exclude = ["token_hash"]
    readonly_fields = ["user", "name", "prefix", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected tokens (their streams close)")
    def revoke(self, request, queryset):
        from accounts.services.personal_tokens import token_revoke

        for token in queryset.filter(revoked_at__isnull=True).select_related("user"):
            token_revoke(user=token.user, token_id=token.pk)
