"""The site's own pages: home, health, the dataset API."""

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from blog import seed
from sandbox import runner
from sandbox.worker import confine


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"dataset": seed.live_dataset()})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    # The sandbox worker's pid (its bubblewrap's, on this host) when one is running; never started here.
    sandbox = {"worker": runner.worker().pid()}
    body = {"status": "ok", "database": connection.vendor, "isolation": confine.level(), "sandbox": sandbox}
    try:
        with connection.cursor() as cursor:  # a real round trip: a stale connection must not pass
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return JsonResponse({**body, "status": "error", "error": str(exc)}, status=503)
    return JsonResponse(body)


@require_GET
def api_dataset(request: HttpRequest) -> JsonResponse:
    dataset = seed.live_dataset()
    if dataset is None:
        return JsonResponse({"size": None, "seed": None, "counts": seed.live_counts(), "digest": None})
    return JsonResponse(
        {
            "size": dataset.size,
            "seed": dataset.seed,
            "counts": dataset.ordered_counts(),
            "digest": dataset.digest,
        }
    )
