import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from markdown_it import MarkdownIt

from core import erd, throttle
from core.requests import HtmxHttpRequest
from exercises import catalog, grading, progress
from exercises.models import Snippet
from lessons import loader as lessons
from sandbox import runner
from sandbox.contract import LIMITS, RunRequest, RunResult

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
    if not isinstance(payload.get("models", ""), str):
        return JsonResponse(
            {"error": '"models", when sent, is the source of model classes: a string.'}, status=400
        )
    return payload


def _diagram(result: RunResult) -> str:
    """The learner's own models and the blog models they point at, drawn; empty without models."""
    return str(erd.svg(erd.with_references(result.models), "Your models and the blog models they use"))


def _exercise(slug: str) -> catalog.Exercise:
    try:
        return catalog.get(slug)
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
    models = payload.get("models", "")
    result = runner.run(RunRequest(payload["code"], repeat=repeat, latency_ms=latency, models=models))
    data = result.to_json()
    if models:
        data["erd"] = _diagram(result)
    return _run_json(data, result)


@require_GET
def api_exercises(request: HttpRequest) -> JsonResponse:
    return JsonResponse([e.public() for e in catalog.all_exercises()], safe=False)


@require_GET
def api_exercise(request: HttpRequest, slug: str) -> JsonResponse:
    """The exercise as the list shows it, with this learner's last code (or null) and whether they passed."""
    exercise = _exercise(slug)
    entry = progress.get(request, exercise)
    draft = entry.draft if entry is not None and entry.draft else None
    return JsonResponse({**exercise.public(), "draft": draft, "passed": bool(entry and entry.passed)})


@require_POST
@throttle.limited("runs")
def api_grade(request: HttpRequest, slug: str) -> HttpResponse:
    exercise = _exercise(slug)
    payload = _json_code(request)
    if isinstance(payload, JsonResponse):
        return payload
    result = grading.grade(exercise, payload["code"])
    progress.record(request, exercise, result, payload["code"])
    return _run_json(result.to_json(), result.result)


@require_GET
def exercise_index(request: HttpRequest) -> HttpResponse:
    records = progress.for_learner(request)
    return render(
        request,
        "exercises/exercise_index.html",
        {"exercises": catalog.all_exercises(), "progress": records},
    )


_MARKDOWN = MarkdownIt("commonmark")


def _next_exercise(exercise: catalog.Exercise) -> catalog.Exercise | None:
    ordered = catalog.all_exercises()
    index = next(i for i, e in enumerate(ordered) if e.slug == exercise.slug)
    return ordered[index + 1] if index + 1 < len(ordered) else None


def _outcome_context(request: HttpRequest, exercise: catalog.Exercise) -> dict[str, Any]:
    """What the outcome fragment needs besides the run: the learner's record and where to go next."""
    record = progress.get(request, exercise)
    return {
        "exercise": exercise,
        "record": record,
        "solution_open": progress.may_see_solution(record),
        "tries_left": progress.TRIES_FOR_SOLUTION - len(record.tried)
        if record
        else progress.TRIES_FOR_SOLUTION,
        "next_exercise": _next_exercise(exercise),
    }


def _exercise_page(request: HttpRequest, exercise: catalog.Exercise, **extra: Any) -> HttpResponse:
    context = _outcome_context(request, exercise)
    record = context["record"]
    context |= {
        "prompt": _MARKDOWN.render(exercise.prompt),
        "hints": [_MARKDOWN.renderInline(hint) for hint in exercise.hints],
        "code": record.draft if record is not None and record.draft else exercise.starter,
        "lesson": lessons.find(exercise.lesson),
        **extra,
    }
    return render(request, "exercises/exercise.html", context)


@require_GET
@throttle.gives_session
def exercise_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return _exercise_page(request, _exercise(slug))


@require_POST
@throttle.limited("runs")
def exercise_run(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    exercise = _exercise(slug)
    code = request.POST.get("code", "")
    progress.save_draft(request, exercise, code)
    result = runner.run(RunRequest(code))
    if request.htmx:
        context = {**_outcome_context(request, exercise), "result": result}
        return render(request, "exercises/exercise.html#outcome", context)
    return _exercise_page(request, exercise, code=code, result=result)


@require_POST
def exercise_draft(request: HttpRequest, slug: str) -> HttpResponse:
    """Autosave: the editor sends the code a moment after the learner stops typing."""
    exercise = _exercise(slug)
    code = request.POST.get("code", "")
    if len(code.encode()) > LIMITS.code_bytes:
        return HttpResponse(f"The code is over {LIMITS.code_bytes // 1024} KB.", status=400)
    progress.save_draft(request, exercise, code)
    return HttpResponse(status=204)


@require_POST
@throttle.limited("runs")
def exercise_submit(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    exercise = _exercise(slug)
    code = request.POST.get("code", "")
    grade = grading.grade(exercise, code)
    progress.record(request, exercise, grade, code)
    context = {"grade": grade, "result": grade.result}
    if request.htmx:
        return render(
            request, "exercises/exercise.html#outcome", {**_outcome_context(request, exercise), **context}
        )
    return _exercise_page(request, exercise, code=code, **context)


@require_GET
def exercise_solution(request: HttpRequest, slug: str) -> HttpResponse:
    exercise = _exercise(slug)
    if not progress.may_see_solution(progress.get(request, exercise)):
        raise PermissionDenied(
            f"The reference solution opens after a pass, or after {progress.TRIES_FOR_SOLUTION} submissions "
            "of your own code, each different from the starter and from the others."
        )
    return render(request, "exercises/solution.html", {"exercise": exercise})


@require_GET
@throttle.gives_session
def playground(request: HttpRequest) -> HttpResponse:
    code = "for article in Article.objects.published().newest_first()[:5]:\n    print(article.title)\n"
    models = ""
    if "fork" in request.GET:
        forked = get_object_or_404(Snippet, pk=request.GET["fork"])
        code, models = forked.code, forked.models
    elif "lesson" in request.GET:
        try:
            comparison = lessons.get(request.GET["lesson"]).comparison(request.GET.get("compare", ""))
        except KeyError:
            raise Http404("No such lesson block") from None
        code = comparison.good.code if request.GET.get("variant") == "good" else comparison.bad.code
    return render(request, "exercises/playground.html", {"code": code, "models": models})


@require_POST
@throttle.limited("runs")
def playground_run(request: HtmxHttpRequest) -> HttpResponse:
    code, models = request.POST.get("code", ""), request.POST.get("models", "")
    result = runner.run(RunRequest(code, repeat=3, models=models))
    if request.POST.get("share"):
        snippet = Snippet.objects.create(code=code, models=models, result=result.to_json())
        return redirect("exercises:snippet", snippet.pk)
    template = "exercises/playground.html#outcome" if request.htmx else "exercises/playground.html"
    context = {
        "code": code,
        "models": models,
        "result": result,
        "diagram": _diagram(result) if models else "",
    }
    return render(request, template, context)


@require_GET
def snippet(request: HttpRequest, snippet_id: str) -> HttpResponse:
    shared = get_object_or_404(Snippet, pk=snippet_id)
    return render(
        request,
        "exercises/snippet.html",
        {
            "snippet": shared,
            "code_html": lessons.highlight_code(shared.code),
            "models_html": lessons.highlight_code(shared.models) if shared.models else "",
            "result": shared.result,
            "diagram": _diagram(RunResult.from_json(shared.result)) if shared.models else "",
        },
    )
