from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from core import views as site_views

urlpatterns = [
    path("", site_views.home, name="home"),
    path("healthz", site_views.healthz, name="healthz"),
    path("api/dataset", site_views.api_dataset, name="api_dataset"),
    path("blog/", include("blog.urls")),
    path("", include("lessons.urls")),
    path("", include("exercises.urls")),
    path("instructor/", include("instructor.urls")),
    path("accounts/", include("core.urls")),
    # One login page for everyone: the admin's sends to it, keeping where to go next.
    path("admin/login/", RedirectView.as_view(pattern_name="accounts:login", query_string=True)),
    path("admin/", admin.site.urls),
]

if settings.DEBUG_TOOLBAR:
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()

handler400 = "core.errors.bad_request"
handler403 = "core.errors.permission_denied"
handler404 = "core.errors.page_not_found"
handler500 = "core.errors.server_error"
