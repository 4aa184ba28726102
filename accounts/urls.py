from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("auth/register", views.RegisterView.as_view(), name="register"),
    path("auth/login", views.LoginView.as_view(), name="login"),
    path("auth/refresh", views.RefreshView.as_view(), name="refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="logout"),
    path("auth/me", views.MeView.as_view(), name="me"),
    path("auth/profile", views.MeView.as_view(), name="profile"),
    path("auth/change-password", views.ChangePasswordView.as_view(), name="change-password"),
    path("auth/send-otp", views.OtpSendView.as_view(), name="send-otp"),
    path("auth/verify-otp", views.OtpVerifyView.as_view(), name="verify-otp"),
    path("auth/password-reset", views.PasswordResetView.as_view(), name="password-reset"),
    path("auth/password-reset/confirm", views.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    path("auth/2fa", views.TwoFactorStatusView.as_view(), name="2fa"),
    path("auth/2fa/setup", views.TwoFactorSetupView.as_view(), name="2fa-setup"),
    path("auth/2fa/enable", views.TwoFactorEnableView.as_view(), name="2fa-enable"),
    path("auth/2fa/disable", views.TwoFactorDisableView.as_view(), name="2fa-disable"),
    path("auth/2fa/verify", views.TwoFactorVerifyView.as_view(), name="2fa-verify"),
    path("auth/tokens", views.ApiTokenListView.as_view(), name="tokens"),
    path("auth/tokens/<int:token_id>", views.ApiTokenDetailView.as_view(), name="token-detail"),
    path("auth/sessions", views.SessionListView.as_view(), name="sessions"),
    path("auth/sessions/<int:session_id>", views.SessionDetailView.as_view(), name="session-detail"),
    path("auth/me/export", views.ExportView.as_view(), name="export"),
]
