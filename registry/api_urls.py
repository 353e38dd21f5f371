from django.urls import path

from registry import api, api_retraining

app_name = "registry-api"
urlpatterns = [
    path("datasets/", api.DatasetUploadView.as_view(), name="upload"),
    path("datasets/query/", api.DatasetQueryView.as_view(), name="dataset_query"),
    path("datasets/<int:pk>/", api.DatasetView.as_view(), name="dataset"),
    path("jobs/", api.TrainView.as_view(), name="train"),
    path("jobs/<int:pk>/", api.JobView.as_view(), name="job"),
    path("jobs/<int:pk>/cancel/", api.JobCancelView.as_view(), name="cancel"),
    path("models/", api.ModelListView.as_view(), name="models"),
    path(
        "models/<slug:name>/versions/", api.VersionListView.as_view(), name="versions"
    ),
    path(
        "models/<slug:name>/versions/<str:ref>/",
        api.VersionView.as_view(),
        name="version",
    ),
    path(
        "models/<slug:name>/versions/<str:ref>/propose/",
        api.ProposeView.as_view(),
        name="propose",
    ),
    path(
        "models/<slug:name>/challenges/",
        api.ChallengeListView.as_view(),
        name="challenges",
    ),
    path(
        "models/<slug:name>/challenges/<int:pk>/",
        api.ChallengeView.as_view(),
        name="challenge",
    ),
    path(
        "models/<slug:name>/challenges/<int:pk>/approve/",
        api.ApproveView.as_view(),
        name="approve",
    ),
    path(
        "models/<slug:name>/challenges/<int:pk>/reject/",
        api.RejectView.as_view(),
        name="reject",
    ),
    path("models/<slug:name>/rollback/", api.RollbackView.as_view(), name="rollback"),
    path(
        "models/<slug:name>/versions/<str:ref>/fairness/",
        api.FairnessView.as_view(),
        name="fairness",
    ),
    path(
        "models/<slug:name>/policies/",
        api_retraining.PolicyListView.as_view(),
        name="policies",
    ),
    path(
        "models/<slug:name>/policies/<int:pk>/",
        api_retraining.PolicyView.as_view(),
        name="policy",
    ),
    path(
        "models/<slug:name>/policies/<int:pk>/run/",
        api_retraining.PolicyRunView.as_view(),
        name="policy_run",
    ),
    path(
        "models/<slug:name>/retrains/",
        api_retraining.RunListView.as_view(),
        name="retrains",
    ),
]
