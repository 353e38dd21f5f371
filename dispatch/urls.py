from django.urls import path

from dispatch import views

app_name = "dispatch"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("schedule-preview/", views.schedule_preview, name="schedule_preview"),
    path("pause-all/", views.pause_all, name="pause_all"),
    path("resume-all/", views.resume_all, name="resume_all"),
    path("runs/", views.runs, name="runs"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run_progress"),
    path("runs/<int:pk>/rows.csv", views.run_csv, name="run_csv"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/switch/", views.switch, name="switch"),
    path("<int:pk>/run/", views.run_now, name="run_now"),
]
