from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from mlframework.core import api as core_api
from mlframework.core import views as core_views
from mlframework.metrics import views as metrics_views
from monitor import views as monitor_views

admin.site.site_header = "mlframework administration"
admin.site.site_title = "mlframework"

urlpatterns = [
    path("", core_views.home, name="home"),
    path("language", core_views.choose_language, name="language"),
    path("healthz", monitor_views.healthz, name="healthz"),
    path("metrics", metrics_views.metrics, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("events/", include("mlframework.events.urls")),
    path("models/", include("registry.urls")),
    path("showroom/", include("showroom.urls")),
    path("dispatches/", include("dispatch.urls")),
    path("monitor/", include("monitor.urls")),
    path("monitor/api-usage/", include("mlframework.usage.urls")),
    path("api/schema/", core_api.SchemaView.as_view(), name="api-schema"),
    path("api/showroom/", include("showroom.api_urls")),
    path("api/registry/", include("registry.api_urls")),
    path("api/monitor/", include("monitor.api_urls")),
]

handler400 = core_views.bad_request
handler403 = core_views.permission_denied
handler404 = core_views.page_not_found
handler500 = core_views.server_error
