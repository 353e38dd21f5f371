from django.urls import path

from monitor import api, api_check, api_performance

app_name = "monitor-api"
# Drift and realised performance in JSON (monitor/api*.py).
urlpatterns: list = [
    path(
        "versions/<int:pk>/drift/", api.VersionDriftView.as_view(), name="version_drift"
    ),
    path("runs/<int:pk>/drift/", api.RunDriftView.as_view(), name="run_drift"),
    path(
        "versions/<int:pk>/performance/",
        api_performance.PerformanceView.as_view(),
        name="performance",
    ),
    path(
        "versions/<int:pk>/drift/check/",
        api_check.DriftCheckView.as_view(),
        name="drift_check",
    ),
]
