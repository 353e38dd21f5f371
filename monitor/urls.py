from django.urls import path

from monitor import views, views_check, views_drift, views_performance, views_settings

app_name = "monitor"
urlpatterns = [
    path("", views.index, name="index"),
    path("checks/", views.checks, name="checks"),
    path("schedules/", views.schedules, name="schedules"),
    path("alerts/", views.alerts, name="alerts"),
    path("cluster/", views.cluster_part, name="cluster"),
    path("dispatches/<int:pk>/enable/", views.enable, name="enable"),
    path("dispatches/<int:pk>/disable/", views.disable, name="disable"),
    path("dispatches/pause-all/", views.pause_all, name="pause_all"),
    path("dispatches/resume-all/", views.resume_all, name="resume_all"),
    path("crontab/sync/", views.sync_crontab, name="sync"),
    path("versions/<int:pk>/drift/", views_drift.drift, name="drift"),
    path("models/<slug:name>/", views_settings.monitoring, name="settings"),
    path(
        "versions/<int:pk>/performance/",
        views_performance.performance,
        name="performance",
    ),
    path(
        "versions/<int:pk>/performance/compute/",
        views_performance.compute,
        name="performance_compute",
    ),
    path(
        "versions/<int:pk>/drift/check/",
        views_check.drift_check,
        name="drift_check",
    ),
]
