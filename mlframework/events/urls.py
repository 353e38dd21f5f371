from django.urls import path

from mlframework.events import views

app_name = "events"
urlpatterns = [
    path("", views.event_list, name="list"),
]
