from django.urls import path

from registry import views

app_name = "registry"
urlpatterns = [
    path("", views.index, name="index"),
    path("datasets/", views.dataset_list, name="datasets"),
    path("datasets/upload/", views.upload, name="upload"),
    path("datasets/<int:pk>/", views.dataset, name="dataset"),
    path("datasets/<int:pk>/types/", views.dataset_types, name="dataset_types"),
    path("datasets/<int:pk>/sheet/", views.dataset_sheet, name="dataset_sheet"),
    path("datasets/<int:pk>/train/", views.train, name="train"),
    path("datasets/<int:pk>/plan/", views.plan, name="plan"),
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/<int:pk>/", views.job, name="job"),
    path("jobs/<int:pk>/progress/", views.job_progress, name="job_progress"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("<slug:name>/", views.model, name="model"),
    path("<slug:name>/compare/", views.compare, name="compare"),
    path("<slug:name>/v<int:number>/", views.version, name="version"),
    path("<slug:name>/v<int:number>/alias/", views.move_alias, name="alias"),
    path("<slug:name>/v<int:number>/archive/", views.archive, name="archive"),
    path("<slug:name>/v<int:number>/restore/", views.restore, name="restore"),
    path("<slug:name>/v<int:number>/delete/", views.delete, name="delete"),
    path("<slug:name>/v<int:number>/prune/", views.prune, name="prune"),
    path("<slug:name>/v<int:number>/analyse/", views.analyse, name="analyse"),
]
