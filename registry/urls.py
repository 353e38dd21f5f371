from django.urls import path

from registry import views, views_retraining

app_name = "registry"
urlpatterns = [
    path("", views.index, name="index"),
    path("datasets/", views.dataset_list, name="datasets"),
    path("datasets/upload/", views.upload, name="upload"),
    path("datasets/query/", views.dataset_query, name="dataset_query"),
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
    path("<slug:name>/challenges/", views.challenge_list, name="challenges"),
    path("<slug:name>/challenges/<int:pk>/", views.challenge, name="challenge"),
    path("<slug:name>/challenges/<int:pk>/approve/", views.approve, name="approve"),
    path("<slug:name>/challenges/<int:pk>/reject/", views.reject, name="reject"),
    path("<slug:name>/rollback/", views.rollback, name="rollback"),
    path("<slug:name>/v<int:number>/propose/", views.propose, name="propose"),
    path("<slug:name>/retraining/", views_retraining.policies, name="policies"),
    path(
        "<slug:name>/retraining/new/",
        views_retraining.policy_edit,
        name="policy_new",
    ),
    path(
        "<slug:name>/retraining/<int:pk>/",
        views_retraining.policy_edit,
        name="policy_edit",
    ),
    path(
        "<slug:name>/retraining/<int:pk>/delete/",
        views_retraining.policy_delete,
        name="policy_delete",
    ),
    path(
        "<slug:name>/retraining/<int:pk>/enable/",
        views_retraining.policy_enable,
        name="policy_enable",
    ),
    path(
        "<slug:name>/retraining/<int:pk>/run/",
        views_retraining.policy_run,
        name="policy_run",
    ),
    path(
        "<slug:name>/retraining/runs/<int:pk>/cancel/",
        views_retraining.run_cancel,
        name="run_cancel",
    ),
    path("<slug:name>/v<int:number>/", views.version, name="version"),
    path("<slug:name>/v<int:number>/alias/", views.move_alias, name="alias"),
    path("<slug:name>/v<int:number>/archive/", views.archive, name="archive"),
    path("<slug:name>/v<int:number>/restore/", views.restore, name="restore"),
    path("<slug:name>/v<int:number>/delete/", views.delete, name="delete"),
    path("<slug:name>/v<int:number>/prune/", views.prune, name="prune"),
    path("<slug:name>/v<int:number>/analyse/", views.analyse, name="analyse"),
    path(
        "<slug:name>/v<int:number>/fairness/",
        views.measure_fairness,
        name="fairness",
    ),
]
