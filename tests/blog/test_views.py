import re
from typing import Any

import pytest
from django.db.models import Count
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from blog import seed
from blog.models import Article, Dataset


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_the_blog_listing_runs_three_queries_whatever_the_size(
    db: None, client: Client, django_assert_num_queries: DjangoAssertNumQueries, size: str
) -> None:
    seed.seed(size, 1)
    with django_assert_num_queries(3):  # COUNT for the pager, the page, its tags
        response = client.get("/blog/")
    assert response.status_code == 200
    first = Article.objects.published().newest_first().select_related("author").first()
    assert first is not None
    assert first.title in response.text
    assert first.author.username in response.text


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_the_naive_listing_is_the_same_page_with_a_query_per_author_category_and_tag_list(
    db: None, client: Client, django_assert_num_queries: DjangoAssertNumQueries, size: str
) -> None:
    seed.seed(size, 1)
    listing = client.get("/blog/")
    rows = len(listing.context["page"])
    with django_assert_num_queries(2 + 3 * rows):  # COUNT, the page, then per article: author, category, tags
        naive = client.get("/blog/?naive=1")
    assert naive.status_code == 200
    assert "The naive listing" in naive.text

    def articles(html: str) -> list[str]:
        """The listing's lines, each article's tags in any order (the naive way asks for no order)."""
        lines = html[html.index('<ol class="articles">') : html.index("</ol>")].splitlines()
        tags = re.compile(r'<span class="tag">([^<]*)</span>')
        return [str(sorted(tags.findall(line))) if 'class="tags"' in line else line for line in lines]

    assert articles(naive.text) == articles(listing.text)


def test_the_listings_comment_counts_are_the_approved_comments(small: Dataset, client: Client) -> None:
    page = client.get("/blog/").context["page"]
    for article in page:
        assert article.comment_count == article.comments.filter(is_approved=True).count()


def test_the_blog_listing_paginates(small: Dataset, client: Client) -> None:
    response = client.get("/blog/?page=2")
    assert "Page 2 of" in response.text
    assert response.context["page"].number == 2
    assert len(response.context["page"]) == 20


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_an_article_page_runs_three_queries_whatever_its_comments(
    db: None, client: Client, django_assert_num_queries: DjangoAssertNumQueries, size: str
) -> None:
    seed.seed(size, 1)
    article = Article.objects.published().annotate(n=Count("comments")).order_by("-n", "id").first()
    assert article is not None
    with django_assert_num_queries(3):  # the article with author and category, tags, comments
        response = client.get(f"/blog/{article.slug}/")
    assert response.status_code == 200
    for comment in article.comments.approved().select_related("author"):
        assert comment.author.username in response.text


def test_a_draft_is_not_shown(tiny: Dataset, client: Client) -> None:
    draft = Article.objects.filter(status="draft").first()
    assert draft is not None
    assert client.get(f"/blog/{draft.slug}/").status_code == 404


def test_healthz_reports_the_database_and_isolation(db: None, client: Client) -> None:
    body: dict[str, Any] = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["database"] in {"sqlite", "postgresql"}
    assert body["isolation"] in {"bubblewrap", "reduced"}


def test_healthz_names_the_running_sandbox_worker_and_never_starts_one(db: None, client: Client) -> None:
    from sandbox import runner

    worker = runner.worker()
    worker.stop()
    assert client.get("/healthz").json()["sandbox"] == {"worker": None}
    assert worker.pid() is None
    worker.start()
    assert client.get("/healthz").json()["sandbox"] == {"worker": worker.pid()}
    assert worker.pid() is not None


def test_the_dataset_api_describes_the_live_dataset(tiny: Dataset, client: Client) -> None:
    body = client.get("/api/dataset").json()
    assert body == {
        "size": "tiny",
        "seed": 1,
        "counts": {"author": 5, "category": 3, "tag": 8, "article": 20, "comment": 60},
        "digest": seed.dataset_digest(),
    }


def test_the_home_page_shows_the_dataset(tiny: Dataset, client: Client) -> None:
    response = client.get("/")
    assert "tiny" in response.text
    assert tiny.digest[:12] in response.text
    labels = re.findall(r"<dt>(\w+)</dt><dd>(\d+)</dd>", response.text)
    assert labels == [
        ("Authors", "5"),
        ("Categories", "3"),
        ("Tags", "8"),
        ("Articles", "20"),
        ("Comments", "60"),
    ]


def test_counts_keep_model_order_when_read_back(tiny: Dataset) -> None:
    # PostgreSQL's jsonb stores object keys shortest first; pages list tables in model order.
    stored = Dataset.objects.get(pk=tiny.pk)
    assert list(stored.ordered_counts()) == ["author", "category", "tag", "article", "comment"]


def test_without_bubblewrap_health_says_reduced_and_every_page_shows_a_banner(
    tiny: Dataset, client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from sandbox.worker import confine

    monkeypatch.setenv("PATH", str(tmp_path))
    confine.bwrap_path.cache_clear()
    try:
        assert client.get("/healthz").json()["isolation"] == "reduced"
        for url in ["/", "/blog/", "/lessons/", "/exercises/", "/playground/"]:
            assert "Reduced isolation." in client.get(url).text
    finally:
        confine.bwrap_path.cache_clear()
