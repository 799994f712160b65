import json
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from markdown_it import MarkdownIt

from config.requests import HtmxHttpRequest
from lessons import loader as lessons
from sandbox import exercises, grading, progress, runner, throttle
from sandbox.contract import LIMITS, RunRequest, RunResult
from sandbox.models import Snippet

RETRY_AFTER_SECONDS = 2


def _run_json(data: dict[str, Any], result: RunResult) -> JsonResponse:
    """A run's JSON; a busy sandbox answers 429 with Retry-After."""
    if result.error and result.error.kind == "busy":
        response = JsonResponse(data, status=429)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return JsonResponse(data)


def _json_code(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": 'The body must be JSON like {"code": "..."}.'}, status=400)
    if not isinstance(payload, dict) or not isinstance(payload.get("code"), str):
        return JsonResponse({"error": 'Send a JSON object with a "code" string.'}, status=400)
    if len(payload["code"].encode()) > LIMITS.code_bytes:
        return JsonResponse({"error": f"The code is over {LIMITS.code_bytes // 1024} KB."}, status=400)
    return payload


def _exercise(slug: str) -> exercises.Exercise:
    try:
        return exercises.get(slug)
    except KeyError:
        raise Http404(f"No exercise {slug!r}") from None


@require_POST
@throttle.limited("runs")
def api_run(request: HttpRequest) -> HttpResponse:
    payload = _json_code(request)
    if isinstance(payload, JsonResponse):
        return payload
    try:
        repeat = int(payload.get("repeat", 1))
        latency = float(payload.get("latency_ms", 0))
    except (TypeError, ValueError):
        return JsonResponse({"error": "repeat and latency_ms must be numbers."}, status=400)
    result = runner.run(RunRequest(payload["code"], repeat=repeat, latency_ms=latency))
    return _run_json(result.to_json(), result)


@require_GET
def api_exercises(request: HttpRequest) -> JsonResponse:
    return JsonResponse([e.public() for e in exercises.all_exercises()], safe=False)


@require_POST
@throttle.limited("runs")
def api_grade(request: HttpRequest, slug: str) -> HttpResponse:
    exercise = _exercise(slug)
    payload = _json_code(request)
    if isinstance(payload, JsonResponse):
        return payload
    result = grading.grade(exercise, payload["code"])
    progress.record(request, exercise, result)
    return _run_json(result.to_json(), result.result)


@require_GET
def exercise_index(request: HttpRequest) -> HttpResponse:
    records = progress.for_session(request)
    return render(
        request,
        "sandbox/exercise_index.html",
        {"exercises": exercises.all_exercises(), "progress": records},
    )


def _exercise_page(request: HttpRequest, exercise: exercises.Exercise, **extra: Any) -> HttpResponse:
    context = {
        "exercise": exercise,
        "prompt": MarkdownIt("commonmark").render(exercise.prompt),
        "code": exercise.starter,
        "record": progress.for_session(request).get(exercise.slug),
        "lesson": lessons.find(exercise.lesson),
        **extra,
    }
    return render(request, "sandbox/exercise.html", context)


@require_GET
def exercise_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return _exercise_page(request, _exercise(slug))


@require_POST
@throttle.limited("runs")
def exercise_run(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    exercise = _exercise(slug)
    code = request.POST.get("code", "")
    result = runner.run(RunRequest(code))
    if request.htmx:
        return render(request, "sandbox/exercise.html#outcome", {"result": result, "exercise": exercise})
    return _exercise_page(request, exercise, code=code, result=result)


@require_POST
@throttle.limited("runs")
def exercise_submit(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    exercise = _exercise(slug)
    code = request.POST.get("code", "")
    grade = grading.grade(exercise, code)
    progress.record(request, exercise, grade)
    context = {"grade": grade, "result": grade.result}
    if request.htmx:
        return render(request, "sandbox/exercise.html#outcome", {**context, "exercise": exercise})
    return _exercise_page(request, exercise, code=code, **context)


@require_GET
def exercise_solution(request: HttpRequest, slug: str) -> HttpResponse:
    exercise = _exercise(slug)
    if not progress.has_submitted(request, exercise):
        return HttpResponse(
            "Submit an attempt first; then the reference solution is yours to see.", status=403
        )
    return render(request, "sandbox/solution.html", {"exercise": exercise})


@require_GET
def playground(request: HttpRequest) -> HttpResponse:
    code = "for article in Article.objects.published().newest_first()[:5]:\n    print(article.title)\n"
    if "fork" in request.GET:
        code = get_object_or_404(Snippet, pk=request.GET["fork"]).code
    elif "lesson" in request.GET:
        try:
            comparison = lessons.get(request.GET["lesson"]).comparison(request.GET.get("compare", ""))
        except KeyError:
            raise Http404("No such lesson block") from None
        code = comparison.good.code if request.GET.get("variant") == "good" else comparison.bad.code
    return render(request, "sandbox/playground.html", {"code": code})


@require_POST
@throttle.limited("runs")
def playground_run(request: HtmxHttpRequest) -> HttpResponse:
    code = request.POST.get("code", "")
    result = runner.run(RunRequest(code, repeat=3))
    if request.POST.get("share"):
        snippet = Snippet.objects.create(code=code, result=result.to_json())
        return redirect("sandbox:snippet", snippet.pk)
    template = "sandbox/playground.html#outcome" if request.htmx else "sandbox/playground.html"
    return render(request, template, {"code": code, "result": result})


@require_GET
def snippet(request: HttpRequest, snippet_id: str) -> HttpResponse:
    shared = get_object_or_404(Snippet, pk=snippet_id)
    return render(
        request,
        "sandbox/snippet.html",
        {"snippet": shared, "code_html": lessons.highlight_code(shared.code), "result": shared.result},
    )
