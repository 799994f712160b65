from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def exercise_index(request: HttpRequest) -> HttpResponse:
    return render(request, "sandbox/exercise_index.html", {"exercises": []})


@require_GET
def playground(request: HttpRequest) -> HttpResponse:
    return render(request, "sandbox/playground.html", {})
