from django.urls import path

from instructor import views

app_name = "instructor"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
