"""The demo blog every lesson and exercise runs against.

No model has ``Meta.ordering``: lessons show ordering explicitly, and a default
ordering would hide an ``ORDER BY`` in every statement a learner reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce, Lower

if TYPE_CHECKING:
    from django.db.models.fields.related_descriptors import RelatedManager


class Author(models.Model):
    username = models.CharField(max_length=150, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField()
    bio = models.TextField(blank=True)
    joined_at = models.DateTimeField()

    class Meta:
        # The indexes lesson's functional index and unique constraint: a search by
        # e-mail address whatever its case, and no two usernames that differ only in case.
        indexes = [models.Index(Lower("email"), name="author_email_lower_idx")]
        constraints = [models.UniqueConstraint(Lower("username"), name="author_username_ci_unique")]

    if TYPE_CHECKING:
        articles: RelatedManager[Article]
        comments: RelatedManager[Comment]

    def __str__(self) -> str:
        return self.username


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        verbose_name_plural = "categories"

    if TYPE_CHECKING:
        articles: RelatedManager[Article]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    if TYPE_CHECKING:
        articles: RelatedManager[Article]

    def __str__(self) -> str:
        return self.name


class ArticleQuerySet(models.QuerySet["Article"]):
    """Named query logic: the custom-manager lesson points here."""

    def published(self) -> ArticleQuerySet:
        return self.filter(status=Article.Status.PUBLISHED)

    def newest_first(self) -> ArticleQuerySet:
        return self.order_by("-pub_date", "-id")

    def with_related(self) -> ArticleQuerySet:
        """Everything a listing shows, in a fixed number of queries."""
        return self.select_related("author", "category").prefetch_related(
            Prefetch("tags", queryset=Tag.objects.order_by("name"))
        )

    def with_comment_count(self) -> ArticleQuerySet:
        """``comment_count``: the approved comments of each article, counted in a correlated subquery.

        Not ``Count("comments")``: that form joins every comment and groups by every
        selected column (the article's body and HTML, the author's bio) before
        ``LIMIT`` keeps a page, so its cost grew with the text of the whole table
        (376 ms for five articles of the large dataset, against 19 ms this way).
        """
        approved = (
            Comment.objects.filter(article=OuterRef("pk"), is_approved=True)
            .order_by()
            .values("article")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return self.annotate(comment_count=Coalesce(Subquery(approved), 0))

    def for_listing(self) -> ArticleQuerySet:
        """Everything the blog's listing shows: ``with_related()`` and ``with_comment_count()``."""
        return self.with_related().with_comment_count()


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"

    title = models.CharField(max_length=255)
    slug = models.SlugField(max_length=255, unique=True)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="articles")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="articles")
    tags = models.ManyToManyField(Tag, related_name="articles", blank=True)
    body = models.TextField()
    html_content = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    pub_date = models.DateTimeField(null=True, blank=True)
    views = models.PositiveIntegerField(default=0)

    objects = ArticleQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["status", "pub_date"], name="article_status_pub_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="draft", pub_date__isnull=True)
                | Q(status="published", pub_date__isnull=False),
                name="article_pub_date_matches_status",
            ),
        ]

    if TYPE_CHECKING:
        comments: RelatedManager[Comment]

    def __str__(self) -> str:
        return self.title


class CommentQuerySet(models.QuerySet["Comment"]):
    def approved(self) -> CommentQuerySet:
        return self.filter(is_approved=True)


class Comment(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="comments")
    body = models.TextField()
    created_at = models.DateTimeField()
    is_approved = models.BooleanField(default=True)

    objects = CommentQuerySet.as_manager()

    class Meta:
        # A partial index (the indexes lesson): the newest approved comments, which the
        # site lists, without the weight of the ones awaiting moderation.
        indexes = [
            models.Index(
                fields=["-created_at"], condition=Q(is_approved=True), name="comment_approved_recent_idx"
            )
        ]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.article_id}"


# The tables a Dataset counts, in model order, with their plural labels.
COUNTED = {
    "author": "Authors",
    "category": "Categories",
    "tag": "Tags",
    "article": "Articles",
    "comment": "Comments",
}


class Dataset(models.Model):
    """One seeding of the blog tables: what is live, and what was live before."""

    size = models.CharField(max_length=20)
    seed = models.PositiveIntegerField()
    digest = models.CharField(max_length=64)
    counts = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    seconds = models.FloatField()

    class Meta:
        get_latest_by = "id"

    def __str__(self) -> str:
        return f"{self.size}/{self.seed} ({self.digest[:12]})"

    def ordered_counts(self) -> dict[str, int]:
        """Rows per table in model order: PostgreSQL's jsonb does not keep the keys' order."""
        return {name: self.counts[name] for name in COUNTED}

    def labelled_counts(self) -> list[tuple[str, int]]:
        """("Authors", 50), ("Categories", 10), ... in model order, for templates."""
        return [(COUNTED[name], n) for name, n in self.ordered_counts().items()]
