"""The staff API (API.md "adminpanel"): thin views over adminpanel's selectors and services.

Every view is staff-only: anonymous → 401, authenticated non-staff → 403. With
``ADMIN_REQUIRE_UNLOCK`` the mutating ones also need ``X-Admin-Unlock``.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.serializers import user_to_dict
from adminpanel import selectors, services
from adminpanel.serializers import (
    AdminBotFilterSerializer,
    AuditFilterSerializer,
    HaltSerializer,
    OverrideSerializer,
    ResourceQuerySerializer,
    UnlockSerializer,
    UserCreateSerializer,
    UserFilterSerializer,
    UserUpdateSerializer,
)
from adminpanel.unlock import IsStaff, unlock_seconds, unlock_token_for
from core.pagination import PageNumberPagination
from core.throttles import ScopedRateThrottle

_OK = {"success": serializers.BooleanField()}
_PAGE = {
    **_OK,
    "total": serializers.IntegerField(),
    "next": serializers.URLField(allow_null=True),
    "previous": serializers.URLField(allow_null=True),
}
_TAGS = ["admin"]


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def user_dict(user: User) -> dict:
    """The account as ``auth/me`` shows it, plus what staff manage."""
    return {**user_to_dict(user), "is_active": user.is_active, "is_superuser": user.is_superuser}


class StaffView(APIView):
    permission_classes = [IsStaff]


# ---------------------------------------------------------------------------
# Unlock
# ---------------------------------------------------------------------------
class UnlockView(StaffView):
    unlock_exempt = True  # it is how one gets the token
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        request=UnlockSerializer,
        responses={
            200: inline_serializer(
                "AdminUnlockResponse",
                {**_OK, "unlock_token": serializers.CharField(), "expires_in": serializers.IntegerField()},
            )
        },
        tags=_TAGS,
    )
    def post(self, request):
        data = _valid(UnlockSerializer, request.data)
        services.admin_unlock(user=request.user, password=data["password"])
        return Response(
            {"success": True, "unlock_token": unlock_token_for(request.user), "expires_in": unlock_seconds()}
        )


# ---------------------------------------------------------------------------
# Bots
# ---------------------------------------------------------------------------
class AdminBotsView(StaffView):
    list_key = "bots"

    @extend_schema(
        parameters=[AdminBotFilterSerializer],
        responses={200: inline_serializer("AdminBotsResponse", {**_PAGE, "bots": serializers.ListField()})},
        tags=_TAGS,
    )
    def get(self, request):
        f = _valid(AdminBotFilterSerializer, request.query_params)
        queryset = selectors.admin_bot_list(
            status=f.get("status", ""),
            mode=f.get("trading_mode") or f.get("mode", ""),
            exchange=f.get("exchange", ""),
            user_id=f.get("user_id"),
            force_paused=f.get("force_paused"),
            in_training=f.get("in_training"),
            search=f.get("search", ""),
        )
        paginator = PageNumberPagination()
        rows = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([selectors.admin_bot_dict(bot) for bot in rows])


class AdminBotOverrideView(StaffView):
    @extend_schema(
        request=OverrideSerializer,
        responses={
            200: inline_serializer(
                "AdminOverrideResponse", {**_OK, "bot": serializers.DictField(), "message": serializers.CharField()}
            )
        },
        tags=_TAGS,
    )
    def post(self, request, bot_id: int):
        data = _valid(OverrideSerializer, request.data)
        rules = data.get("override_rules")
        if "override_rules" not in request.data:
            rules = None
        elif rules is None:
            rules = {}
        if rules is None and data["force_pause"] is None:
            raise ValidationError({"override_rules": ["Send override_rules, force_pause or both."]})
        bot = services.bot_override(
            actor=request.user,
            bot_id=bot_id,
            rules=rules,
            force_pause=data["force_pause"],
            reason=data["reason"],
        )
        bot = selectors.admin_bot_list().filter(pk=bot.pk).first()
        return Response(
            {"success": True, "bot": selectors.admin_bot_dict(bot), "message": f"Bot '{bot.name}' overrides saved"}
        )


# ---------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------
class ResourceUsersView(StaffView):
    list_key = "users"

    @extend_schema(
        parameters=[ResourceQuerySerializer],
        responses={
            200: inline_serializer(
                "AdminResourcesResponse",
                {**_PAGE, "users": serializers.ListField(), "system_totals": serializers.DictField()},
            )
        },
        tags=_TAGS,
    )
    def get(self, request):
        q = _valid(ResourceQuerySerializer, request.query_params)
        sort = q.get("sort") or q.get("ordering")
        queryset = selectors.user_usage_list(sort=sort, search=q.get("search", ""))
        sizes = selectors.row_sizes()
        paginator = PageNumberPagination()
        rows = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(
            [selectors.user_usage_row(user, sizes) for user in rows],
            sort=sort or selectors.DEFAULT_USAGE_SORT,
            system_totals=selectors.system_totals(),
        )


# ---------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------
class AdminUsersView(StaffView):
    list_key = "users"
    extra_error_statuses = {"POST": ["409"]}

    @extend_schema(
        parameters=[UserFilterSerializer],
        responses={200: inline_serializer("AdminUsersResponse", {**_PAGE, "users": serializers.ListField()})},
        tags=_TAGS,
    )
    def get(self, request):
        f = _valid(UserFilterSerializer, request.query_params)
        queryset = User.objects.order_by("pk")
        if f.get("search"):
            queryset = queryset.filter(email__icontains=f["search"]) | queryset.filter(username__icontains=f["search"])
        for flag in ("is_staff", "is_active"):
            if f.get(flag) is not None:
                queryset = queryset.filter(**{flag: f[flag]})
        paginator = PageNumberPagination()
        rows = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([user_dict(user) for user in rows])

    @extend_schema(
        request=UserCreateSerializer,
        responses={201: inline_serializer("AdminUserCreated", {**_OK, "user": serializers.DictField()})},
        tags=_TAGS,
    )
    def post(self, request):
        user = services.user_create(actor=request.user, data=_valid(UserCreateSerializer, request.data))
        return Response({"success": True, "user": user_dict(user)}, status=201)


class AdminUserView(StaffView):
    extra_error_statuses = {"PUT": ["409"], "PATCH": ["409"], "DELETE": ["409"]}

    @extend_schema(
        request=UserUpdateSerializer,
        responses={200: inline_serializer("AdminUserUpdated", {**_OK, "user": serializers.DictField()})},
        tags=_TAGS,
    )
    def put(self, request, user_id: int):
        data = {k: v for k, v in _valid(UserUpdateSerializer, request.data).items() if v is not None}
        user = services.user_update(actor=request.user, user_id=user_id, data=data)
        return Response({"success": True, "user": user_dict(user)})

    patch = put

    @extend_schema(
        responses={200: inline_serializer("AdminUserDeactivated", {**_OK, "user": serializers.DictField()})},
        tags=_TAGS,
    )
    def delete(self, request, user_id: int):
        """Deactivate (never delete): the account's bots, trades and audit history are kept."""
        user = services.user_set_active(actor=request.user, user_id=user_id, active=False)
        return Response(
            {
                "success": True,
                "user": user_dict(user),
                "message": f"User {user.email} deactivated; their history is kept",
            }
        )


# ---------------------------------------------------------------------------
# Audit and fleet halt
# ---------------------------------------------------------------------------
class AdminAuditView(StaffView):
    list_key = "entries"

    @extend_schema(
        parameters=[AuditFilterSerializer],
        responses={200: inline_serializer("AdminAuditResponse", {**_PAGE, "entries": serializers.ListField()})},
        tags=_TAGS,
    )
    def get(self, request):
        f = _valid(AuditFilterSerializer, request.query_params)
        queryset = selectors.audit_list(
            actor=str(f["actor_id"]) if f.get("actor_id") is not None else f.get("actor", ""),
            action=f.get("action", ""),
            target_type=f.get("target_type", ""),
            target_id=f.get("target_id", ""),
            since=f.get("since"),
            until=f.get("until"),
        )
        paginator = PageNumberPagination()
        rows = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([selectors.audit_dict(entry) for entry in rows])


_HALT = {
    **_OK,
    "halted": serializers.BooleanField(),
    "reason": serializers.CharField(),
    "since": serializers.DateTimeField(allow_null=True),
}


class AdminHaltView(StaffView):
    @extend_schema(responses={200: inline_serializer("AdminHaltResponse", _HALT)}, tags=_TAGS)
    def get(self, request):
        return Response({"success": True, **selectors.fleet_halt_dict()})

    @extend_schema(request=HaltSerializer, responses={200: inline_serializer("AdminHaltSet", _HALT)}, tags=_TAGS)
    def post(self, request):
        data = _valid(HaltSerializer, request.data)
        halt = services.fleet_halt_set(actor=request.user, halted=data["halted"], reason=data["reason"])
        return Response({"success": True, **selectors.fleet_halt_dict(halt)})
