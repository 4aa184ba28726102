from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("notifications/channels", views.ChannelListView.as_view(), name="channels"),
    path("notifications/channels/<int:channel_id>", views.ChannelDetailView.as_view(), name="channel"),
    path("notifications/channels/<int:channel_id>/test", views.ChannelTestView.as_view(), name="channel-test"),
    path("notifications/channels/<int:channel_id>/verify", views.ChannelVerifyView.as_view(), name="channel-verify"),
    path("notifications/channels/<int:channel_id>/link", views.ChannelLinkView.as_view(), name="channel-link"),
    path("notifications/deliveries", views.DeliveryListView.as_view(), name="deliveries"),
]
