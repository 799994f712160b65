from django.urls import path

from instructor import views

app_name = "instructor"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("reset", views.reset, name="reset"),
    path("restore", views.restore, name="restore"),
    path("jobs/<int:job_id>/", views.job_progress, name="job"),
    path("class/", views.class_view, name="class"),
]
