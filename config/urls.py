from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from bots.views import StatusView
from config import health

api_patterns = [
    path("", include("accounts.urls")),
    path("", include("credentials.urls")),
    path("", include("realtime.urls")),
    path("", include("bots.urls")),
    path("", include("signals.urls")),
    path("", include("training.urls")),
    path("", include("adminpanel.urls")),
    path("", include("notifications.urls")),
    path("health", health.HealthView.as_view(), name="health"),
    path("ready", health.ReadyView.as_view(), name="ready"),
    path("version", health.VersionView.as_view(), name="version"),
    path("metrics", health.MetricsView.as_view(), name="metrics"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="config/redoc.html"), name="redoc"),
]

if settings.BENCH_ROUTES:
    api_patterns.append(path("_bench/bare", health.bench_bare, name="bench-bare"))

urlpatterns = [
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("status", StatusView.as_view(), name="status-root"),  # older monitors (API.md)
    # Last: the web app's pages; each is an exact path, none under api/, admin/ or static/.
    path("", include("web.urls")),
]

handler400 = "config.health.bad_request"
handler404 = "config.health.not_found"
handler500 = "config.health.server_error"
