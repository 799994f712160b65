from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from blog import views as blog_views
from sandbox import throttle

urlpatterns = [
    path("", blog_views.home, name="home"),
    path("healthz", blog_views.healthz, name="healthz"),
    path("api/dataset", blog_views.api_dataset, name="api_dataset"),
    path("blog/", include("blog.urls")),
    path("", include("lessons.urls")),
    path("", include("sandbox.urls")),
    path("instructor/", include("instructor.urls")),
    # The login page counts attempts per client (sandbox/throttle.py).
    path("admin/login/", throttle.limited("login")(admin.site.login)),
    path("admin/", admin.site.urls),
]

if settings.DEBUG_TOOLBAR:
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()
