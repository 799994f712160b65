from django.urls import path

from exercises import views

app_name = "exercises"
urlpatterns = [
    path("api/run", views.api_run, name="api_run"),
    path("api/exercises", views.api_exercises, name="api_exercises"),
    path("api/exercises/<slug:slug>", views.api_exercise, name="api_exercise"),
    path("api/exercises/<slug:slug>/grade", views.api_grade, name="api_grade"),
    path("exercises/", views.exercise_index, name="exercise_index"),
    path("exercises/<slug:slug>/", views.exercise_detail, name="exercise"),
    path("exercises/<slug:slug>/run", views.exercise_run, name="exercise_run"),
    path("exercises/<slug:slug>/draft", views.exercise_draft, name="exercise_draft"),
    path("exercises/<slug:slug>/submit", views.exercise_submit, name="exercise_submit"),
    path("exercises/<slug:slug>/solution", views.exercise_solution, name="exercise_solution"),
    path("playground/", views.playground, name="playground"),
    path("playground/run", views.playground_run, name="playground_run"),
    path("s/<str:snippet_id>/", views.snippet, name="snippet"),
]
