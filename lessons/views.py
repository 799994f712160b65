from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from blog import seed
from core import throttle
from core.requests import HtmxHttpRequest
from lessons import loader, runs
from sandbox import datasets, runner
from sandbox.contract import DatasetRef


def _lesson(slug: str) -> loader.Lesson:
    try:
        return loader.get(slug)
    except KeyError:
        raise Http404(f"No lesson {slug!r}") from None


def _comparison(slug: str, compare: str) -> tuple[loader.Lesson, loader.Comparison]:
    lesson = _lesson(slug)
    if compare not in lesson.comparisons:
        raise Http404(f"No comparison {compare!r} in {slug!r}")
    return lesson, lesson.comparison(compare)


def _page(
    request: HttpRequest,
    lesson: loader.Lesson,
    outcome: runs.ComparisonRun | None = None,
    scaled: runs.Scaled | None = None,
) -> HttpResponse:
    previous, following = loader.neighbours(lesson)
    live = seed.live_dataset()
    default_size = live.size if live and live.size in runs.OFFERED_SIZES else "small"
    seed_value = runner.dataset_ref(live).seed
    # Sizes whose dataset is not built yet: their first run builds it, and the page says so while it waits.
    cold = [
        size for size in runs.OFFERED_SIZES if datasets.prepared_digest(DatasetRef(size, seed_value)) is None
    ]
    return render(
        request,
        "lessons/lesson.html",
        {
            "lesson": lesson,
            "previous": previous,
            "next": following,
            "outcome": outcome,
            "scaled": scaled,
            "sizes": runs.OFFERED_SIZES,
            "latencies": runs.LATENCIES,
            "repeat": runs.REPEAT,
            "default_size": outcome.size if outcome else default_size,
            "dataset": live,
            "cold_sizes": " ".join(cold),
        },
    )


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "lessons/index.html", {"lessons": loader.all_lessons()})


@require_GET
@throttle.gives_session
def detail(request: HttpRequest, slug: str) -> HttpResponse:
    return _page(request, _lesson(slug))


@require_POST
@throttle.limited("runs", cost=2)
def run_comparison(request: HtmxHttpRequest, slug: str, compare: str) -> HttpResponse:
    lesson, comparison = _comparison(slug, compare)
    size = request.POST.get("size", "small")
    latency = request.POST.get("latency", "0")
    if size not in runs.OFFERED_SIZES or latency not in {str(x) for x in runs.LATENCIES}:
        return HttpResponse("Unknown dataset size or latency.", status=400)
    outcome = runs.shared_compare(
        comparison,
        size=size,
        latency_ms=int(latency),
        seed=runner.current_dataset().seed,
        again=request.POST.get("again") == "1",
    )
    if request.htmx:
        context = {"outcome": outcome, "comparison": outcome.comparison, "lesson": lesson}
        return render(request, "lessons/lesson.html#results", context)
    return _page(request, lesson, outcome)


@require_POST
@throttle.limited("runs", cost=8)
def scale_comparison(request: HtmxHttpRequest, slug: str, compare: str) -> HttpResponse:
    lesson, comparison = _comparison(slug, compare)
    scaled = runs.shared_scale(
        comparison, seed=runner.current_dataset().seed, again=request.POST.get("again") == "1"
    )
    context = {"scaled": scaled, "comparison": scaled.comparison, "lesson": lesson}
    if request.htmx:
        return render(request, "lessons/lesson.html#scaled", context)
    return _page(request, lesson, scaled=scaled)


@require_GET
def api_lessons(request: HttpRequest) -> JsonResponse:
    return JsonResponse([lesson.to_json() for lesson in loader.all_lessons()], safe=False)
