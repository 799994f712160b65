"""Learners sign up, sign in and out on Django's auth, in the site's own pages.

Signing up or in keeps what the learner did before in this browser: the
``user_logged_in`` signal moves the session's progress and drafts to the
account (``exercises.progress.adopt``).
"""

from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters

from core import throttle
from core.forms import SignupForm


def _next_url(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(wanted, {request.get_host()}, require_https=request.is_secure())
    return wanted if safe and wanted else "/"


@sensitive_post_parameters("password1", "password2")
@throttle.limited("login")
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(_next_url(request))
    return render(request, "accounts/signup.html", {"form": form, "next": _next_url(request)})


login_view = throttle.limited("login")(LoginView.as_view(template_name="accounts/login.html"))
logout_view = LogoutView.as_view(next_page="/")
