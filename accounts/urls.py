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
]
