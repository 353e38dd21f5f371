from django.urls import path

from showroom import views

app_name = "showroom"
urlpatterns = [
    path("", views.index, name="index"),
]
