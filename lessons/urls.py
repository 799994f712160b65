from django.urls import path

from lessons import views

app_name = "lessons"
urlpatterns = [
    path("lessons/", views.index, name="index"),
    path("lessons/<slug:slug>/", views.detail, name="detail"),
    path("lessons/<slug:slug>/run/<slug:compare>/", views.run_comparison, name="run"),
    path("lessons/<slug:slug>/scale/<slug:compare>/", views.scale_comparison, name="scale"),
    path("api/lessons", views.api_lessons, name="api_lessons"),
]
