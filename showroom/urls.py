from django.urls import path

from showroom import views

app_name = "showroom"
urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:name>/", views.model, name="model"),
    path("<slug:name>/form/", views.case_form, name="form"),
    path("<slug:name>/predict/", views.predict, name="predict"),
    path("<slug:name>/predict-listed/", views.predict_listed, name="predict_listed"),
    path("<slug:name>/recent/", views.recent, name="recent"),
    path("<slug:name>/cases/", views.case_source, name="case_source"),
    path(
        "<slug:name>/cases/delete/",
        views.case_source_delete,
        name="case_source_delete",
    ),
]
