from django.urls import path

from mlframework.usage import views

app_name = "usage"
urlpatterns = [
    path("", views.api_usage, name="api_usage"),
]
