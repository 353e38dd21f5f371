from django.urls import path

from monitor import api_check, api_performance

app_name = "monitor-api"
# Drift and realised performance in JSON (monitor/api*.py).
urlpatterns: list = [
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
