from django.urls import path

from sandbox import views

app_name = "sandbox"
urlpatterns = [
    path("exercises/", views.exercise_index, name="exercise_index"),
    path("playground/", views.playground, name="playground"),
]
