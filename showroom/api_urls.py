from django.urls import path

from showroom import api

app_name = "showroom-api"
urlpatterns = [
    path("predict/", api.PredictView.as_view(), name="predict"),
]
