from django.urls import path

from credentials import views

app_name = "credentials"

urlpatterns = [
    path("keys", views.KeyListView.as_view(), name="list"),
    path("keys/save", views.KeySaveView.as_view(), name="save"),
    path("keys/test", views.KeyTestView.as_view(), name="test"),
    path("keys/<int:credential_id>", views.KeyDetailView.as_view(), name="detail"),
    path("val/profile", views.ProfileView.as_view(), name="val-profile"),
    path("val/update_profile", views.ProfileUpdateView.as_view(), name="val-update-profile"),
]
