from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from blog.models import Article, Comment

ARTICLES_PER_PAGE = 20


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
