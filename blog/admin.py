"""The five blog models in the admin, each changelist in a fixed number of queries."""

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from blog.models import Article, Author, Category, Comment, Dataset, Tag


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin[Author]):
    list_display = ["username", "name", "email", "joined_at"]
    search_fields = ["username", "name", "email"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin[Category]):
    list_display = ["name", "slug", "article_count"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return super().get_queryset(request).annotate(article_count=Count("articles"))

    @admin.display(ordering="article_count", description="articles")
    def article_count(self, obj: Category) -> int:
        return obj.article_count  # type: ignore[attr-defined,no-any-return]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin[Tag]):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin[Article]):
    list_display = ["title", "author", "category", "status", "pub_date", "views"]
    list_filter = ["status", "category"]
    list_select_related = ["author", "category"]
    search_fields = ["title", "slug"]
    raw_id_fields = ["author"]
    filter_horizontal = ["tags"]
    date_hierarchy = "pub_date"


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin[Comment]):
    list_display = ["id", "article", "author", "is_approved", "created_at"]
    list_filter = ["is_approved"]
    list_select_related = ["article", "author"]
    raw_id_fields = ["article", "author"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin[Dataset]):
    list_display = ["id", "size", "seed", "digest", "created_at", "seconds"]
