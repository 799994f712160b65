from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from blog import seed
from core.requests import HtmxHttpRequest
from exercises import catalog
from exercises.models import Progress
from instructor import resets
from instructor.forms import ResetForm
from instructor.models import ResetJob

View = Callable[..., HttpResponse]


def instructor_required(view: View) -> View:
    """Anonymous visitors go to the login page; signed-in learners get 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("The instructor pages are for staff accounts.")
        return view(request, *args, **kwargs)

    return wrapped


def class_summary() -> list[dict[str, Any]]:
    """Per exercise: learners who attempted, who passed, and the most common failing check."""
    counts: dict[str, dict[str, Any]] = {
        row["exercise"]: dict(row)
        for row in Progress.objects.values("exercise").annotate(
            attempted=Count("id"), passed=Count("id", filter=Q(passed=True))
        )
    }
    failing: dict[str, str] = {}
    for row in (
        Progress.objects.filter(passed=False)
        .exclude(last_failure="")
        .values("exercise", "last_failure")
        .annotate(n=Count("id"))
        .order_by("exercise", "-n", "last_failure")
    ):
        failing.setdefault(row["exercise"], row["last_failure"])
    return [
        {
            "exercise": exercise,
            "attempted": counts.get(exercise.slug, {}).get("attempted", 0),
            "passed": counts.get(exercise.slug, {}).get("passed", 0),
            "failing": failing.get(exercise.slug, ""),
        }
        for exercise in catalog.all_exercises()
    ]


def learners() -> list[dict[str, Any]]:
    """Signed-in learners with a record: exercises passed and their last activity, latest first."""
    rows = (
        get_user_model()
        .objects.filter(Exists(Progress.objects.filter(user=OuterRef("pk"))))
        .annotate(
            passed=Count("progress", filter=Q(progress__passed=True)),
            last_activity=Max("progress__updated_at"),
        )
        .order_by("-last_activity", "username")
        .values("username", "passed", "last_activity")
    )
    return [dict(row) for row in rows]


def _class_context() -> dict[str, Any]:
    return {
        "summary": class_summary(),
        "learners": learners(),
        "anonymous": Progress.objects.filter(user=None).values("session_key").distinct().count(),
    }


def _dashboard(request: HttpRequest, form: ResetForm | None = None, error: str = "") -> HttpResponse:
    live = seed.live_dataset()
    previous = (
        ResetJob.objects.select_related("previous")
        .filter(status=ResetJob.Status.SUCCEEDED, previous__isnull=False)
        .first()
    )
    active = ResetJob.objects.filter(active=True).first()
    return render(
        request,
        "instructor/dashboard.html",
        {
            "dataset": live,
            "form": form or ResetForm(initial={"size": live.size, "seed": live.seed} if live else None),
            "presets": resets.presets(),
            "error": error,
            "job": active,
            "progress": resets.progress(active) if active else None,
            "restore_job": previous,
            "jobs": ResetJob.objects.select_related("requested_by")[:20],
            **_class_context(),
        },
        status=400 if form is not None and form.errors or error else 200,
    )


@require_GET
@instructor_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return _dashboard(request)


@require_POST
@instructor_required
def reset(request: HttpRequest) -> HttpResponse:
    form = ResetForm(request.POST)
    if not form.is_valid():
        return _dashboard(request, form)
    try:
        resets.start(
            request.user,
            size=form.cleaned_data["size"],
            seed_value=form.cleaned_data["seed"],
            preset=form.cleaned_data["preset"],
        )
    except resets.ResetRefused as exc:
        return _dashboard(request, form, error=str(exc))
    return redirect("instructor:dashboard")


@require_POST
@instructor_required
def restore(request: HttpRequest) -> HttpResponse:
    job = get_object_or_404(ResetJob, pk=request.POST.get("job"), status=ResetJob.Status.SUCCEEDED)
    if job.previous is None:
        return _dashboard(request, error="That reset has no earlier dataset to restore.")
    try:
        resets.start(request.user, size=job.previous.size, seed_value=job.previous.seed)
    except resets.ResetRefused as exc:
        return _dashboard(request, error=str(exc))
    return redirect("instructor:dashboard")


@require_GET
@instructor_required
def job_progress(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    if not request.htmx:  # a fragment only for the dashboard's own polling; a visit gets the page
        return redirect("instructor:dashboard")
    job = get_object_or_404(ResetJob, pk=job_id)
    response = render(
        request, "instructor/dashboard.html#progress", {"job": job, "progress": resets.progress(job)}
    )
    if job.active is None and request.htmx:
        response["HX-Refresh"] = "true"  # finished: reload the page for the new dataset and log
    return response


@require_GET
@instructor_required
def class_view(request: HtmxHttpRequest) -> HttpResponse:
    if not request.htmx:  # a fragment only for the dashboard's own refresh; a visit gets the page
        return redirect(f"{reverse('instructor:dashboard')}#class")
    return render(request, "instructor/dashboard.html#class", _class_context())
