from django.core.paginator import Paginator
from django.db import DatabaseError, connection
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from blog import seed
from blog.models import Article, Comment
from sandbox import runner
from sandbox.worker import confine

ARTICLES_PER_PAGE = 20


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"dataset": seed.live_dataset()})


@require_GET
def article_list(request: HttpRequest) -> HttpResponse:
    # Three queries whatever the page or the data size: COUNT, the page, its tags.
    # ?naive=1 renders the same page the N+1 way, for django-debug-toolbar's SQL panel
    # (lesson 01): the page, then an author, a category and a tag list per article.
    naive = request.GET.get("naive") == "1"
    articles = Article.objects.published().newest_first()
    articles = articles.with_comment_count() if naive else articles.for_listing()
    page = Paginator(articles, ARTICLES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "blog/article_list.html", {"page": page, "naive": naive})


@require_GET
def article_detail(request: HttpRequest, slug: str) -> HttpResponse:
    approved = Comment.objects.approved().select_related("author").order_by("created_at", "id")
    article = get_object_or_404(
        Article.objects.published()
        .with_related()
        .prefetch_related(Prefetch("comments", queryset=approved, to_attr="approved_comments")),
        slug=slug,
    )
    return render(request, "blog/article_detail.html", {"article": article})


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
