from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from mlframework.core import views as core_views
from monitor import views as monitor_views

admin.site.site_header = "mlframework administration"
admin.site.site_title = "mlframework"

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", monitor_views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("events/", include("mlframework.events.urls")),
    path("models/", include("registry.urls")),
    path("showroom/", include("showroom.urls")),
    path("dispatches/", include("dispatch.urls")),
    path("monitor/", include("monitor.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/showroom/", include("showroom.api_urls")),
    path("api/registry/", include("registry.api_urls")),
]
