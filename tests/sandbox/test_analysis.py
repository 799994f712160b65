"""N+1 findings, end to end: real code run in the sandbox, and the analysis' building blocks.

Every case of the table runs twice through ``runner.run`` on the small dataset: the
bad code must produce exactly one finding (relation, fix, line, message), and the
fixed code, which prints the same output, none at all.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox import analysis, runner
from sandbox.contract import DatasetRef, Finding, Query, RunRequest, RunResult

SMALL = DatasetRef("small", 1)
VERBS = ("add ", "use ", "build ", "filter ", "fetch ")


@dataclass(frozen=True)
class Case:
    name: str
    bad: str
    fixed: str
    line: int
    relation: str
    fix: str
    count: int | None = 10  # statements on the line; None when the data decides


def run(code: str) -> RunResult:
    result = runner.run(RunRequest(textwrap.dedent(code).strip() + "\n", dataset=SMALL))
    assert result.error is None, result.error
    return result


def counted_on(result: RunResult, line: int) -> int:
    return sum(1 for q in result.queries if q.line == line and not q.control)


def expected_message(line: int, count: int, relation: str, fix: str) -> str:
    action = fix if fix.startswith(VERBS) else f"add {fix}"
    return f"line {line} runs {count} similar queries ({relation}): {action}"


CASES = [
    Case(
        "forward FK article.author",
        """
        for article in Article.objects.order_by("id")[:10]:
            print(article.title, article.author.username)
        """,
        """
        for article in Article.objects.select_related("author").order_by("id")[:10]:
            print(article.title, article.author.username)
        """,
        2,
        "article.author",
        'select_related("author")',
    ),
    Case(
        "forward FK article.category",
        """
        articles = Article.objects.order_by("id")[:10]
        for article in articles:
            print(article.category.name)
        """,
        """
        articles = Article.objects.select_related("category").order_by("id")[:10]
        for article in articles:
            print(article.category.name)
        """,
        3,
        "article.category",
        'select_related("category")',
    ),
    Case(
        "M2M article.tags.all()",
        """
        for article in Article.objects.order_by("id")[:10]:
            print(sorted(tag.name for tag in article.tags.all()))
        """,
        """
        for article in Article.objects.prefetch_related("tags").order_by("id")[:10]:
            print(sorted(tag.name for tag in article.tags.all()))
        """,
        2,
        "article.tags.all()",
        'prefetch_related("tags")',
    ),
    Case(
        "reverse FK article.comments.all()",
        """
        for article in Article.objects.order_by("id")[:10]:
            print(sorted(comment.id for comment in article.comments.all()))
        """,
        """
        for article in Article.objects.prefetch_related("comments").order_by("id")[:10]:
            print(sorted(comment.id for comment in article.comments.all()))
        """,
        2,
        "article.comments.all()",
        'prefetch_related("comments")',
    ),
    Case(
        "comment.author inside a prefetch",
        """
        articles = Article.objects.prefetch_related("comments").order_by("id")[:10]
        for article in articles:
            for comment in sorted(article.comments.all(), key=lambda c: c.id):
                print(article.id, comment.author.username)
        """,
        """
        comments = Prefetch("comments", queryset=Comment.objects.select_related("author"))
        articles = Article.objects.prefetch_related(comments).order_by("id")[:10]
        for article in articles:
            for comment in sorted(article.comments.all(), key=lambda c: c.id):
                print(article.id, comment.author.username)
        """,
        4,
        "comment.author",
        'Prefetch("comments", queryset=Comment.objects.select_related("author"))',
        None,
    ),
    Case(
        "comment.author on a plain queryset",
        """
        for comment in Comment.objects.order_by("id")[:10]:
            print(comment.author.username)
        """,
        """
        for comment in Comment.objects.select_related("author").order_by("id")[:10]:
            print(comment.author.username)
        """,
        2,
        "comment.author",
        'select_related("author")',
    ),
    Case(
        "forward FK comment.article",
        """
        for comment in Comment.objects.order_by("id")[:10]:
            print(comment.article.title)
        """,
        """
        for comment in Comment.objects.select_related("article").order_by("id")[:10]:
            print(comment.article.title)
        """,
        2,
        "comment.article",
        'select_related("article")',
    ),
    Case(
        "deferred field loaded per row",
        """
        for article in Article.objects.only("title").order_by("id")[:10]:
            print(article.title, len(article.body))
        """,
        """
        for article in Article.objects.only("title", "body").order_by("id")[:10]:
            print(article.title, len(article.body))
        """,
        2,
        "article.body (deferred)",
        'add "body" to only(), or take it out of defer()',
    ),
    Case(
        "count() on a reverse FK per row",
        """
        for article in Article.objects.order_by("id")[:10]:
            print(article.comments.count())
        """,
        """
        for article in Article.objects.annotate(comments_count=Count("comments")).order_by("id")[:10]:
            print(article.comments_count)
        """,
        2,
        "article.comments.count()",
        'annotate(comments_count=Count("comments"))',
    ),
    Case(
        "count() on an M2M per row",
        """
        for article in Article.objects.order_by("id")[:10]:
            print(article.tags.count())
        """,
        """
        for article in Article.objects.annotate(tags_count=Count("tags")).order_by("id")[:10]:
            print(article.tags_count)
        """,
        2,
        "article.tags.count()",
        'annotate(tags_count=Count("tags"))',
    ),
    Case(
        "filter().count() on a reverse FK per row",
        """
        for article in Article.objects.order_by("id")[:10]:
            print(article.comments.filter(is_approved=True).count())
        """,
        """
        approved = Count("comments", filter=Q(comments__is_approved=True))
        for article in Article.objects.annotate(comments_count=approved).order_by("id")[:10]:
            print(article.comments_count)
        """,
        2,
        "article.comments.filter().count()",
        'annotate(comments_count=Count("comments", filter=Q(...)))',
    ),
    Case(
        "filter() on a prefetched relation per row",
        """
        for article in Article.objects.prefetch_related("comments").order_by("id")[:10]:
            print(sorted(c.id for c in article.comments.filter(is_approved=True)))
        """,
        """
        approved = Prefetch("comments", queryset=Comment.objects.filter(is_approved=True), to_attr="approved")
        for article in Article.objects.prefetch_related(approved).order_by("id")[:10]:
            print(sorted(c.id for c in article.approved))
        """,
        2,
        "article.comments.filter()",
        'prefetch_related(Prefetch("comments", queryset=Comment.objects.filter(...), to_attr="..."))',
    ),
    Case(
        "reverse M2M tag.articles.all()",
        """
        for tag in Tag.objects.order_by("id")[:10]:
            print(tag.name, sorted(a.id for a in tag.articles.all()))
        """,
        """
        for tag in Tag.objects.prefetch_related("articles").order_by("id")[:10]:
            print(tag.name, sorted(a.id for a in tag.articles.all()))
        """,
        2,
        "tag.articles.all()",
        'prefetch_related("articles")',
    ),
    Case(
        "reverse FK author.articles.all()",
        """
        for author in Author.objects.order_by("id")[:10]:
            print(author.username, sorted(a.id for a in author.articles.all()))
        """,
        """
        for author in Author.objects.prefetch_related("articles").order_by("id")[:10]:
            print(author.username, sorted(a.id for a in author.articles.all()))
        """,
        2,
        "author.articles.all()",
        'prefetch_related("articles")',
    ),
    Case(
        "save() in a loop",
        """
        for article in Article.objects.order_by("id")[:10]:
            article.views += 1
            article.save()
        print(sum(Article.objects.order_by("id").values_list("views", flat=True)[:10]))
        """,
        """
        ids = list(Article.objects.order_by("id").values_list("id", flat=True)[:10])
        Article.objects.filter(id__in=ids).update(views=F("views") + 1)
        print(sum(Article.objects.order_by("id").values_list("views", flat=True)[:10]))
        """,
        3,
        "article.save() in a loop",
        "use update() with F() expressions, or bulk_update()",
    ),
    Case(
        "create() in a loop",
        """
        for i in range(10):
            Tag.objects.create(name=f"new-{i}", slug=f"new-{i}")
        print(Tag.objects.filter(name__startswith="new-").count())
        """,
        """
        Tag.objects.bulk_create([Tag(name=f"new-{i}", slug=f"new-{i}") for i in range(10)])
        print(Tag.objects.filter(name__startswith="new-").count())
        """,
        2,
        "Tag.objects.create() in a loop",
        "build the objects first, then bulk_create() them",
    ),
    Case(
        "M2M add() in a loop",
        """
        tag = Tag.objects.get(pk=1)
        for article in Article.objects.order_by("id")[:10]:
            article.tags.add(tag)
        print(tag.articles.count())
        """,
        """
        tag = Tag.objects.get(pk=1)
        links = [Article.tags.through(article=a, tag=tag) for a in Article.objects.order_by("id")[:10]]
        Article.tags.through.objects.bulk_create(links, ignore_conflicts=True)
        print(tag.articles.count())
        """,
        3,
        "article.tags.add() in a loop",
        "build the links first, then Article.tags.through.objects.bulk_create() them",
    ),
    Case(
        "delete() in a loop",
        """
        for comment in Comment.objects.order_by("id")[:10]:
            comment.delete()
        print(Comment.objects.count())
        """,
        """
        ids = list(Comment.objects.order_by("id").values_list("id", flat=True)[:10])
        Comment.objects.filter(id__in=ids).delete()
        print(Comment.objects.count())
        """,
        2,
        "comment.delete() in a loop",
        "filter the rows and delete() the queryset once",
    ),
    Case(
        "exists() on a reverse FK per row",
        """
        for article in Article.objects.order_by("id")[:10]:
            print(article.comments.exists())
        """,
        """
        has_comments = Exists(Comment.objects.filter(article=OuterRef("pk")))
        for article in Article.objects.annotate(has_comments=has_comments).order_by("id")[:10]:
            print(article.has_comments)
        """,
        2,
        "article.comments.exists()",
        'annotate(has_comments=Exists(Comment.objects.filter(article=OuterRef("pk"))))',
    ),
    Case(
        "exists() on an M2M per row",
        """
        for article in Article.objects.order_by("id")[:10]:
            print(article.tags.exists())
        """,
        """
        has_tags = Exists(Tag.objects.filter(articles=OuterRef("pk")))
        for article in Article.objects.annotate(has_tags=has_tags).order_by("id")[:10]:
            print(article.has_tags)
        """,
        2,
        "article.tags.exists()",
        'annotate(has_tags=Exists(Tag.objects.filter(articles=OuterRef("pk"))))',
    ),
    Case(
        "filter().exists() per row",
        """
        for author in Author.objects.order_by("id")[:10]:
            print(author.articles.filter(status="draft").exists())
        """,
        """
        drafts = Exists(Article.objects.filter(author=OuterRef("pk"), status="draft"))
        for author in Author.objects.annotate(has_articles=drafts).order_by("id")[:10]:
            print(author.has_articles)
        """,
        2,
        "author.articles.filter().exists()",
        'annotate(has_articles=Exists(Article.objects.filter(author=OuterRef("pk"), ...)))',
    ),
    Case(
        "get(pk=...) in a loop",
        """
        for pk in range(1, 11):
            print(Article.objects.get(pk=pk).title)
        """,
        """
        articles = Article.objects.in_bulk(list(range(1, 11)))
        for pk in range(1, 11):
            print(articles[pk].title)
        """,
        2,
        "Article.objects.get(pk=...) in a loop",
        "fetch the rows in one query: Article.objects.in_bulk(ids)",
    ),
    Case(
        "only().get(pk=...) in a loop is no deferred field",
        """
        print(Article.objects.order_by("id").first().title)
        for pk in range(1, 11):
            print(Article.objects.only("title").get(pk=pk).title)
        """,
        """
        print(Article.objects.order_by("id").first().title)
        articles = Article.objects.only("title").in_bulk(list(range(1, 11)))
        for pk in range(1, 11):
            print(articles[pk].title)
        """,
        3,
        "Article.objects.get(pk=...) in a loop",
        "fetch the rows in one query: Article.objects.in_bulk(ids)",
    ),
    Case(
        "count() of a filter per value",
        """
        for status in ["draft", "published", "draft", "published"]:
            print(status, Article.objects.filter(status=status).count())
        """,
        """
        counts = dict(Article.objects.values_list("status").annotate(n=Count("pk")).order_by())
        for status in ["draft", "published", "draft", "published"]:
            print(status, counts[status])
        """,
        2,
        "Article.objects.filter(...).count() in a loop",
        'fetch every count in one query: values(...).annotate(n=Count("pk"))',
        4,
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_the_bad_code_gets_exactly_one_finding_and_the_fixed_code_none(case: Case) -> None:
    bad = run(case.bad)
    fixed = run(case.fixed)

    assert len(bad.findings) == 1, bad.findings
    finding = bad.findings[0]
    count = counted_on(bad, case.line)
    if case.count is not None:
        assert count == case.count
    assert finding.to_json() == {
        "kind": "n_plus_one",
        "line": case.line,
        "count": count,
        "relation": case.relation,
        "fix": case.fix,
        "message": expected_message(case.line, count, case.relation, case.fix),
        "sql": finding.sql,
    }
    on_line = {analysis.shape(q.sql) for q in bad.queries if q.line == case.line}
    assert finding.sql in on_line

    assert fixed.findings == []
    assert fixed.query_count < bad.query_count
    assert fixed.stdout == bad.stdout != ""


def test_the_case_table_covers_at_least_fourteen_distinct_relations() -> None:
    assert len({c.relation for c in CASES}) >= 14
    assert len({c.name for c in CASES}) == len(CASES)


def test_two_lazy_relations_read_on_one_line_are_two_findings_each_named_from_the_comment() -> None:
    result = run(
        """
        def describe(comment):
            return f"{comment.author} | {comment.article} | {comment.created_at:%Y-%m-%d}"

        for comment in Comment.objects.order_by("id")[:10]:
            print(describe(comment))
        """
    )
    assert [(f["line"], f["relation"], f["fix"]) for f in map(Finding.to_json, result.findings)] == [
        (2, "comment.author", 'select_related("author")'),
        (2, "comment.article", 'select_related("article")'),
    ]


def test_a_relation_two_hops_away_is_named_from_the_lazily_loaded_object() -> None:
    result = run(
        """
        for comment in Comment.objects.order_by("id")[:10]:
            print(comment.article.title)
            print(comment.article.author.username)
        """
    )
    assert [(f["line"], f["relation"]) for f in map(Finding.to_json, result.findings)] == [
        (2, "comment.article"),
        (3, "article.author"),
    ]


def test_a_nested_loop_without_prefetch_reports_both_levels() -> None:
    result = run(
        """
        for article in Article.objects.order_by("id")[:5]:
            for comment in article.comments.all():
                print(comment.author.username)
        """
    )
    assert [(f["line"], f["relation"]) for f in map(Finding.to_json, result.findings)] == [
        (2, "article.comments.all()"),
        (3, "comment.author"),
    ]


def test_a_count_between_the_list_and_the_lazy_load_is_not_taken_for_its_source() -> None:
    result = run(
        """
        for article in Article.objects.order_by("id")[:10]:
            n = article.comments.count()
            print(article.author.username, n)
        """
    )
    assert [(f["line"], f["relation"]) for f in map(Finding.to_json, result.findings)] == [
        (2, "article.comments.count()"),
        (3, "article.author"),
    ]


def test_a_deferred_foreign_key_is_named_by_its_field() -> None:
    result = run(
        """
        for article in Article.objects.only("title").order_by("id")[:10]:
            print(article.author_id)
        """
    )
    assert [(f["relation"], f["fix"]) for f in map(Finding.to_json, result.findings)] == [
        ("article.author (deferred)", 'add "author" to only(), or take it out of defer()')
    ]


# Code that sends several statements from one line, or repeats one only twice,
# without an N+1: each also checks that the statements it is about really ran.
NEGATIVES = {
    "bulk_create with batch_size": (
        """
        Tag.objects.bulk_create([Tag(name=f"t{i}", slug=f"t{i}") for i in range(10)], batch_size=3)
        """,
        lambda qs: sum(q.sql.startswith("INSERT") for q in qs) == 4,
    ),
    "bulk_update with batch_size": (
        """
        articles = list(Article.objects.order_by("id")[:10])
        for article in articles:
            article.views = 0
        Article.objects.bulk_update(articles, ["views"], batch_size=3)
        """,
        lambda qs: sum(q.sql.startswith("UPDATE") and q.line == 4 for q in qs) == 4,
    ),
    "queryset delete() of many rows": (
        """
        Comment.objects.filter(article_id__in=[1, 2, 3, 4, 5]).delete()
        """,
        lambda qs: any(q.sql.startswith("DELETE") for q in qs),
    ),
    "iterator(chunk_size) with prefetch_related": (
        """
        for article in Article.objects.prefetch_related("tags").iterator(chunk_size=20):
            len(article.tags.all())
        """,
        lambda qs: sum(q.line == 1 for q in qs) == 11,
    ),
    "two different queries on one line": (
        """
        for pk in (1, 2):
            print(Article.objects.filter(pk=pk).count(), Author.objects.filter(pk=pk).count())
        """,
        lambda qs: sum(q.line == 2 for q in qs) == 4,
    ),
    "several different queries on one line": (
        """
        print(Article.objects.count(), Author.objects.count(), Tag.objects.count(), Comment.objects.count())
        """,
        lambda qs: sum(q.line == 1 for q in qs) == 4,
    ),
    "a loop of only 2 repeated queries": (
        """
        for article in Article.objects.order_by("id")[:2]:
            print(article.author.username)
        """,
        lambda qs: sum(q.line == 2 for q in qs) == 2,
    ),
    "FETCH_PEERS loads a relation for every peer at once": (
        """
        for article in Article.objects.fetch_mode(FETCH_PEERS).order_by("id")[:10]:
            print(article.author.username, article.category.name)
        """,
        lambda qs: sum(q.line == 2 for q in qs) == 2,
    ),
    "the same statement from three different lines": (
        """
        a = Article.objects.filter(pk=1).first()
        b = Article.objects.filter(pk=2).first()
        c = Article.objects.filter(pk=3).first()
        """,
        lambda qs: len({analysis.shape(q.sql) for q in qs}) == 1 and len(qs) == 3,
    ),
}


@pytest.mark.parametrize("name", list(NEGATIVES))
def test_code_without_an_n_plus_one_gets_no_finding(name: str) -> None:
    code, ran_as_expected = NEGATIVES[name]
    result = run(code)
    assert ran_as_expected(result.queries), [(q.line, q.sql[:80]) for q in result.queries]
    assert result.findings == []


# --- shape() ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            'SELECT "a"."id" FROM "a" WHERE "a"."id" = %s LIMIT 21',
            'SELECT "a"."id" FROM "a" WHERE "a"."id" = %s LIMIT ?',
        ),
        ("SELECT * FROM t WHERE name = 'it''s' AND n = -1.5", "SELECT * FROM t WHERE name = ? AND n = ?"),
        ('SELECT * FROM "t" WHERE "t"."id" IN (%s, %s, %s)', 'SELECT * FROM "t" WHERE "t"."id" IN (…)'),
        ("SELECT * FROM t WHERE id IN (?)", "SELECT * FROM t WHERE id IN (…)"),
        ("SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (…)"),
        ("SELECT * FROM t WHERE name IN ('a', 'b')", "SELECT * FROM t WHERE name IN (…)"),
        ('SELECT "t2"."col1" FROM "t2" AS T3', 'SELECT "t2"."col1" FROM "t2" AS T3'),
    ],
)
def test_shape_takes_every_value_out_and_leaves_identifiers_alone(sql: str, expected: str) -> None:
    assert analysis.shape(sql) == expected


def test_shape_makes_statements_that_differ_only_in_values_equal() -> None:
    assert analysis.shape("SELECT * FROM t WHERE id IN (1, 2)") == analysis.shape(
        "SELECT * FROM t WHERE id IN (7, 8, 9, 10)"
    )
    assert analysis.shape("UPDATE t SET n = 1 WHERE id = 2") == analysis.shape(
        "UPDATE t SET n = 30 WHERE id = 4"
    )
    assert analysis.shape("SELECT * FROM t WHERE a = 1") != analysis.shape("SELECT * FROM t WHERE b = 1")


# --- groups() --------------------------------------------------------------------------------


def q(sql: str, params: list[Any] | None = None, line: int | None = 1, **extra: Any) -> Query:
    return Query(sql, params, 1.0, line=line, **extra)


BY_ID = 'SELECT * FROM "blog_author" WHERE "blog_author"."id" = %s'
BY_AUTHOR = 'SELECT * FROM "blog_article" WHERE "blog_article"."author_id" = %s'


def test_groups_count_similar_statements_and_separately_the_exact_duplicates() -> None:
    queries = [
        q(BY_ID, [1]),
        q(BY_ID, [2]),
        q(BY_ID, [1]),
        q('SELECT * FROM "blog_tag"', []),
        q(BY_ID, [1]),
        q('SELECT * FROM "blog_tag"', []),
    ]
    (authors, tags) = analysis.groups(queries)
    assert (authors.indexes, authors.count, authors.duplicates) == ([0, 1, 2, 4], 4, 2)
    assert (tags.indexes, tags.count, tags.duplicates) == ([3, 5], 2, 1)


def test_groups_tell_params_apart_by_value_and_skip_transaction_control() -> None:
    queries = [
        q('SAVEPOINT "s1"', None, control=True),
        q(BY_ID, [1]),
        q(BY_ID, ["1"]),
        q(BY_ID, None),
        q('RELEASE SAVEPOINT "s1"', None, control=True),
    ]
    (group,) = analysis.groups(queries)
    assert group.indexes == [1, 2, 3]
    assert group.duplicates == 0


def test_findings_of_hand_written_queries_need_three_statements_from_one_line() -> None:
    listing = q('SELECT "blog_article"."id", "blog_article"."author_id" FROM "blog_article"', [])
    loads = [q(BY_ID, [i], line=2) for i in (1, 2)]
    assert analysis.findings([listing, *loads]) == []
    (finding,) = analysis.findings([listing, *loads, q(BY_ID, [3], line=2)])
    assert (finding.line, finding.count, finding.relation) == (2, 3, "article.author")


def test_statements_spread_over_lines_still_make_a_finding_placed_nowhere() -> None:
    """The line is the child's word: it places a finding and cannot hide a real one."""
    listing = q('SELECT "blog_article"."id", "blog_article"."author_id" FROM "blog_article"', [])
    for lines in ((1, 2, 3), (4, 4, 5, 5), (7, 8, 9, 10, 11)):
        honest = [q(BY_ID, [i], line=line) for i, line in enumerate(lines)]
        assert analysis.findings([listing, *honest]) == []
    for lines in ((1, 2, 3, 4, 5, 6), (1, 1, 2, 2, 3, 3, 4, 4), tuple(range(50))):
        spread = [q(BY_ID, [i], line=line) for i, line in enumerate(lines)]
        (finding,) = analysis.findings([listing, *spread])
        assert (finding.line, finding.count, finding.relation) == (None, len(lines), "article.author")
        assert finding.message.startswith(f"your code runs {len(lines)} similar queries")


def test_a_finding_without_a_line_says_your_code() -> None:
    queries = [q(BY_ID, [i], line=None) for i in range(4)]
    (finding,) = analysis.findings(queries)
    assert finding.line is None
    assert finding.message.startswith(
        "your code runs 4 similar queries (Author.objects.get(pk=...) in a loop): "
    )
    assert json.loads(json.dumps(finding.to_json())) == finding.to_json()
    assert set(finding.to_json()) == {"kind", "line", "count", "relation", "fix", "message", "sql"}


# --- fold() ----------------------------------------------------------------------------------


def test_fold_merges_consecutive_statements_of_one_shape_and_says_what_differs() -> None:
    queries = [
        q(BY_ID, [1]),
        q(BY_ID, [1]),
        q(BY_ID, [3]),
        q(BY_ID, [7]),
        q(BY_AUTHOR, [2]),
        q(BY_AUTHOR, [2]),
    ]
    folded = analysis.fold(queries)
    assert [(f["times"], f["ms"], f["identical"], f["differs"]) for f in folded] == [
        (4, 4.0, False, "id: 1, 1, 3, 7"),
        (2, 2.0, True, ""),
    ]
    assert len(folded[0]["members"]) == 4


def test_a_loops_interleaved_statements_fold_by_shape_until_the_loop_ends() -> None:
    by_category = 'SELECT * FROM "blog_category" WHERE "blog_category"."id" = %s'
    loop = [q(BY_ID, [1]), q(by_category, [4]), q(BY_ID, [2]), q(by_category, [5]), q(BY_ID, [3])]
    after = [q(BY_AUTHOR, [9]), q(BY_ID, [1])]
    folded = analysis.fold(loop + after)
    assert [(f["sql"], f["times"], f["differs"]) for f in folded] == [
        (BY_ID, 3, "id: 1, 2, 3"),
        (by_category, 2, "id: 4, 5"),
        (BY_AUTHOR, 1, ""),
        (BY_ID, 1, ""),
    ]


def test_a_long_run_of_similar_statements_lists_its_first_values() -> None:
    folded = analysis.fold([q(BY_ID, [pk]) for pk in range(1, 21)])
    assert folded[0]["differs"] == "id: 1, 2, 3, 4, 5, 6, 7, 8, ..."


def test_statements_whose_parameter_lists_differ_in_length_differ_in_their_parameters() -> None:
    sql = 'SELECT "blog_tag"."id" FROM "blog_tag" WHERE "blog_tag"."id" IN (%s)'
    folded = analysis.fold([q(sql, [1]), q(sql, [1, 2])])
    assert folded[0]["differs"] == "their parameters"


@pytest.mark.parametrize(
    ("sql", "shortened", "cut"),
    [
        ("SELECT 1 WHERE id IN (1, 2, 3)", "SELECT 1 WHERE id IN (1, 2, 3)", 0),
        (
            "SELECT 1 WHERE id IN (" + ", ".join(map(str, range(1, 1001))) + ")",
            "SELECT 1 WHERE id IN (1, 2, 3, 4, 5, 6, /* ... 993 more ... */ 1000)",
            1,
        ),
        (
            "SELECT 1 WHERE name IN ('a, b', 'c', 'd', 'e', 'f', 'g', 'h', 'i''s', 'j')",
            "SELECT 1 WHERE name IN ('a, b', 'c', 'd', 'e', 'f', 'g', /* ... 2 more ... */ 'j')",
            1,
        ),
        (
            'INSERT INTO "t" ("a", "b") VALUES (1, \'x\'), (2, \'y\') RETURNING "t"."id"',
            'INSERT INTO "t" ("a", "b") VALUES (1, \'x\'), (2, \'y\') RETURNING "t"."id"',
            0,
        ),
        (
            'INSERT INTO "t" ("a", "b") VALUES '
            + ", ".join(f"({n}, 'it''s (n), {n}')" for n in range(1, 501))
            + ' RETURNING "t"."id"',
            "INSERT INTO \"t\" (\"a\", \"b\") VALUES (1, 'it''s (n), 1'), (2, 'it''s (n), 2'), "
            "(3, 'it''s (n), 3'), /* ... 496 more rows ... */ (500, 'it''s (n), 500') RETURNING \"t\".\"id\"",
            1,
        ),
        (
            "INSERT INTO t VALUES "
            + ", ".join(f"({n}, 1)" for n in range(20))
            + "; SELECT 1 WHERE id IN ("
            + ", ".join(map(str, range(20)))
            + ")",
            "INSERT INTO t VALUES (0, 1), (1, 1), (2, 1), /* ... 16 more rows ... */ (19, 1); "
            "SELECT 1 WHERE id IN (0, 1, 2, 3, 4, 5, /* ... 13 more ... */ 19)",
            2,
        ),
    ],
)
def test_long_in_and_values_lists_are_shortened_with_their_count(sql: str, shortened: str, cut: int) -> None:
    assert analysis.shorten_lists(sql) == (shortened, cut)


def test_fold_never_merges_statements_from_different_lines_or_with_different_outcomes() -> None:
    queries = [
        q(BY_ID, [1], line=1),
        q(BY_ID, [1], line=2),
        q(BY_ID, [1], line=2, error="OperationalError: database is locked"),
    ]
    folded = analysis.fold(queries)
    assert [(f["line"], f["times"], f["error"]) for f in folded] == [
        (1, 1, None),
        (2, 1, None),
        (2, 1, "OperationalError: database is locked"),
    ]


def test_fold_leaves_its_input_untouched() -> None:
    queries = [q(BY_ID, [1]), q(BY_ID, [1])]
    before = [query.to_json() for query in queries]
    assert analysis.fold(queries)[0]["times"] == 2
    assert [query.to_json() for query in queries] == before
    assert analysis.fold([]) == []


@pytest.mark.parametrize(
    ("sql", "instances"),
    [
        ('SELECT "blog_author"."id", "blog_author"."email" FROM "blog_author"', True),
        ('SELECT DISTINCT "blog_author"."id", "blog_author"."email" FROM "blog_author"', True),
        ('SELECT "blog_author"."email" AS "email" FROM "blog_author"', False),
        (
            'SELECT DISTINCT "blog_author"."email" AS "email", "blog_author"."name" AS "name", '
            '"blog_author"."joined_at", "blog_author"."id" FROM "blog_author" ORDER BY 3, 4',
            False,
        ),
        (
            'SELECT "blog_comment"."id", "blog_comment"."body", "blog_author"."id", "blog_author"."email" '
            'FROM "blog_comment" INNER JOIN "blog_author" ON ("blog_comment"."author_id" = "blog_author"."id")',
            True,
        ),
        ('SELECT "blog_comment"."id", "blog_comment"."author_id" FROM "blog_comment"', False),
        ('SELECT COUNT(*) AS "__count" FROM "blog_author"', False),
        ('SELECT "blog_author"."id" AS "pk" FROM "blog_author"', False),
    ],
)
def test_builds_instances_tells_model_rows_from_values(sql: str, instances: bool) -> None:
    assert analysis.builds_instances(sql, "blog_author") is instances


def test_selected_columns_are_the_select_lists_own() -> None:
    sql = (
        'SELECT "blog_article"."id", "blog_article"."title", (SELECT U0."body" FROM "blog_comment" U0 LIMIT 1) '
        'AS "first" FROM "blog_article" WHERE "blog_article"."body" LIKE %s'
    )
    assert analysis.selected_columns(sql) == {"blog_article.id", "blog_article.title"}


@pytest.mark.parametrize(
    ("plan", "searched"),
    [
        (
            "3 0 0 SEARCH blog_article USING COVERING INDEX article_status_pub_idx (status=? AND pub_date>?)",
            True,
        ),
        ("2 0 0 SCAN blog_article USING COVERING INDEX article_status_pub_idx", False),
        ("2 0 0 SCAN blog_article", False),
        (
            "Index Only Scan using article_status_pub_idx on blog_article  (cost=0.29..8.31 rows=1 width=8)\n"
            "  Index Cond: ((status)::text = 'published'::text)",
            True,
        ),
        (
            "Bitmap Heap Scan on blog_article  (cost=4.30..12.5 rows=3 width=8)\n"
            "  Recheck Cond: ((status)::text = 'published'::text)\n"
            "  ->  Bitmap Index Scan on article_status_pub_idx  (cost=0.00..4.30 rows=3 width=0)\n"
            "        Index Cond: ((status)::text = 'published'::text)",
            True,
        ),
        (
            "Index Only Scan using article_status_pub_idx on blog_article  (cost=0.29..50.1 rows=800 width=8)",
            False,
        ),
        ("Seq Scan on blog_article  (cost=0.00..35.5 rows=10 width=8)", False),
    ],
)
def test_searches_index_needs_a_narrowed_search_of_that_index(plan: str, searched: bool) -> None:
    assert analysis.searches_index(plan, "article_status_pub_idx") is searched
