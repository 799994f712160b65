from django.urls import path

from lessons import views

app_name = "lessons"
urlpatterns = [
    path("lessons/", views.index, name="index"),
]
