from collections import Counter
from statistics import mean

import pytest
from django.db.models import Count

from blog import seed
from blog.models import Article, Author, Category, Comment, Dataset, Tag


@pytest.mark.parametrize("size", ["tiny", "small", "default"])
def test_each_size_has_the_documented_row_counts(db: None, size: str) -> None:
    spec = seed.SIZES[size]
    dataset = seed.seed(size, 7)
    expected = {
        "author": spec.authors,
        "category": spec.categories,
        "tag": spec.tags,
        "article": spec.articles,
        "comment": spec.comments,
    }
    assert seed.live_counts() == expected
    assert dataset.counts == expected


@pytest.mark.slow
def test_large_size_has_the_documented_row_counts(db: None) -> None:
    seed.seed("large", 1)
    assert seed.live_counts() == {
        "author": 500, "category": 20, "tag": 100, "article": 20_000, "comment": 100_000
    }  # fmt: skip


def test_the_same_size_and_seed_give_the_same_digest_twice(db: None) -> None:
    first = seed.seed("small", 42)
    second = seed.seed("small", 42)
    assert first.digest == second.digest == seed.dataset_digest()


def test_a_different_seed_gives_a_different_digest(db: None) -> None:
    assert seed.seed("tiny", 1).digest != seed.seed("tiny", 2).digest


def test_generation_alone_is_deterministic() -> None:
    assert seed.generate("tiny", 5) == seed.generate("tiny", 5)
    assert seed.generate("tiny", 5) != seed.generate("tiny", 6)


def test_a_failure_mid_seed_leaves_the_previous_data_intact(db: None) -> None:
    before = seed.seed("tiny", 1)

    def fail_while_writing_comments(stage: str, written: int) -> None:
        if stage == "comment":
            raise RuntimeError("injected failure")

    with pytest.raises(RuntimeError, match="injected failure"):
        seed.seed("small", 9, on_progress=fail_while_writing_comments)

    assert seed.dataset_digest() == before.digest
    assert seed.live_dataset() == before
    assert Dataset.objects.count() == 1


def test_an_interrupt_mid_seed_leaves_the_previous_data_intact(db: None) -> None:
    before = seed.seed("tiny", 1)

    def interrupt(stage: str, written: int) -> None:
        if stage == "article_tags":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        seed.seed("small", 9, on_progress=interrupt)
    assert seed.dataset_digest() == before.digest


@pytest.mark.parametrize("table", ["tags", "comments"])
def test_rows_that_collide_are_an_error_not_a_smaller_dataset(
    db: None, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    # write() inserts with ignore_conflicts (no RETURNING); a generator bug that
    # repeats a unique value or an id must still fail the seed, not drop the row.
    before = seed.seed("tiny", 1)
    generate = seed.generate

    def colliding(size: str, number: int) -> seed.Rows:
        rows = generate(size, number)
        column = getattr(rows, table)
        column[1] = (column[0][0], *column[1][1:]) if table == "comments" else (column[1][0], *column[0][1:])
        return rows

    monkeypatch.setattr(seed, "generate", colliding)
    blog_table, generated = {"tags": ("blog_tag", 20), "comments": ("blog_comment", 1000)}[table]
    message = f"{blog_table}: {generated:,} rows generated, {generated - 1:,} stored"
    with pytest.raises(seed.SeedError, match=message):
        seed.seed("small", 9)
    assert seed.dataset_digest() == before.digest
    assert seed.live_dataset() == before


def test_unknown_size_and_negative_seed_are_refused(db: None) -> None:
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        seed.seed("huge", 1)
    with pytest.raises(ValueError, match="non-negative"):
        seed.seed("tiny", -1)


def test_every_article_has_one_to_five_tags(small: Dataset) -> None:
    tag_counts = Article.objects.annotate(n=Count("tags")).values_list("n", flat=True)
    assert set(tag_counts) <= {1, 2, 3, 4, 5}
    assert len(set(tag_counts)) == 5


def test_about_eighty_percent_are_published_and_only_they_have_a_pub_date(small: Dataset) -> None:
    published = Article.objects.published().count()
    assert 0.7 < published / Article.objects.count() < 0.9
    assert not Article.objects.published().filter(pub_date__isnull=True).exists()
    assert not Article.objects.filter(status="draft", pub_date__isnull=False).exists()
    assert not Article.objects.filter(status="draft", views__gt=0).exists()


def test_comments_belong_to_published_articles_and_follow_them(small: Dataset) -> None:
    assert not Comment.objects.exclude(article__status="published").exists()
    for comment in Comment.objects.select_related("article")[:200]:
        assert comment.article.pub_date is not None
        assert comment.created_at > comment.article.pub_date


def test_the_data_is_skewed_like_a_real_blog(small: Dataset) -> None:
    per_author = sorted(Counter(Article.objects.values_list("author_id", flat=True)).values())
    assert per_author[-1] >= 5 * per_author[len(per_author) // 2]
    per_article = sorted(Counter(Comment.objects.values_list("article_id", flat=True)).values())
    assert per_article[-1] >= 5 * per_article[len(per_article) // 2]


def test_bodies_are_long_enough_for_defer_to_matter(tiny: Dataset) -> None:
    assert mean(len(a.body) + len(a.html_content) for a in Article.objects.all()) > 3000
    assert mean(len(a.title) for a in Article.objects.all()) < 100


def test_names_and_slugs_are_unique_and_filled(small: Dataset) -> None:
    for model in (Author, Category, Tag):
        assert model.objects.exclude(pk__in=[]).count() > 0
    assert Author.objects.values("username").distinct().count() == Author.objects.count()
    assert Category.objects.filter(slug="").count() == 0
    assert Tag.objects.filter(slug="").count() == 0


def test_every_columns_tuple_is_in_the_models_field_order() -> None:
    for model, columns in seed.COLUMNS.items():
        attnames = [f.attname for f in model._meta.concrete_fields]
        assert list(columns) == (attnames if columns[0] == "id" else attnames[1:])


@pytest.mark.parametrize(
    ("size", "seed_value"),
    [(size, value) for size in ("tiny", "small", "default") for value in (1, 2, 7920)]
    + [("large", 1), ("large", 7920)],
)
def test_every_size_has_the_rows_both_branches_of_an_exercise_need(size: str, seed_value: int) -> None:
    """has-drafts and category-summary are graded on a hidden dataset: both answers must occur there."""
    rows = seed.generate(size, seed_value)
    published = {a[0] for a in rows.articles if a[7] == "published"}
    drafts = {a[0] for a in rows.articles if a[7] == "draft"}
    commented = {c[1] for c in rows.comments}
    assert drafts - commented, "a draft without comments"

    by_category = {c[0]: {a[7] for a in rows.articles if a[4] == c[0]} for c in rows.categories}
    assert any(statuses == {"draft"} for statuses in by_category.values()), "a category with drafts only"
    assert any("published" in statuses for statuses in by_category.values())

    first_fifteen = [a[0] for a in sorted(rows.authors, key=lambda a: (a[5], a[0]))[:15]]
    has_draft = {a[3] for a in rows.articles if a[0] in drafts}
    has_comment = {c[2] for c in rows.comments}
    answers = {(author in has_draft, author in has_comment) for author in first_fifteen}
    assert {(True, True), (False, False)} <= answers
    assert published


def test_within_generating_once_a_dataset_is_generated_once() -> None:
    with seed.generating_once():
        first = seed.generate("tiny", 3)
        assert seed.generate("tiny", 3) is first
        assert seed.generate("tiny", 4) is not first
    again = seed.generate("tiny", 3)
    assert again is not first and again.counts() == first.counts()
