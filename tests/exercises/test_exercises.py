"""Every exercise, graded for real on tiny (visible) and small (hidden)."""

import time

import pytest
from django.test import Client
from markdown_it import MarkdownIt

from exercises import catalog, grading
from sandbox import runner
from sandbox.contract import DatasetRef, RunRequest, RunResult

VISIBLE = DatasetRef("tiny", 1)
HIDDEN = DatasetRef("small", 7920)
EXERCISES = catalog.all_exercises()
PINNED = [
    "article-authors",
    "article-tags",
    "recent-comments",
    "prolific-authors",
    "category-summary",
    "bump-views",
]


def grade(exercise: catalog.Exercise, code: str) -> grading.Grade:
    return grading.grade(exercise, code, visible=VISIBLE, hidden=HIDDEN)


def test_there_are_at_least_sixteen_exercises_including_the_pinned_ones() -> None:
    slugs = {e.slug for e in EXERCISES}
    assert len(slugs) >= 16
    assert set(PINNED) <= slugs


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.slug)
def test_the_reference_solution_passes(exercise: catalog.Exercise) -> None:
    result = grade(exercise, exercise.solution)
    assert result.passed, [c for c in result.checks if not c.passed]


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.slug)
def test_the_starter_gives_the_right_answer_with_too_many_queries(exercise: catalog.Exercise) -> None:
    result = grade(exercise, exercise.starter)
    checks = {c.name: c for c in result.checks}
    assert not result.passed
    assert checks["hidden dataset"].passed
    assert not (checks["query budget"].passed and checks["flat"].passed and checks["no N+1"].passed)


@pytest.mark.slow
@pytest.mark.parametrize("exercise", [e for e in EXERCISES if not e.writes], ids=lambda e: e.slug)
def test_printing_the_visible_answer_fails_on_the_hidden_dataset(exercise: catalog.Exercise) -> None:
    visible_answer = runner.run(RunRequest(exercise.solution, dataset=VISIBLE)).stdout
    result = grade(exercise, f"print({visible_answer!r}, end='')")
    checks = {c.name: c for c in result.checks}
    assert checks["output"].passed
    assert not checks["hidden dataset"].passed
    assert "another dataset" in checks["hidden dataset"].message
    assert not result.passed


@pytest.mark.slow
@pytest.mark.parametrize("slug", ["article-authors", "article-tags", "recent-comments"])
def test_an_n_plus_one_version_fails_naming_its_line_and_fix(slug: str) -> None:
    exercise = catalog.get(slug)
    result = grade(exercise, exercise.starter)
    n_plus_one = next(c for c in result.checks if c.name == "no N+1")
    assert not n_plus_one.passed
    assert n_plus_one.message.startswith("line ")
    assert "select_related" in n_plus_one.message or "prefetch_related" in n_plus_one.message


def test_a_wrong_line_is_shown_expected_against_actual() -> None:
    exercise = catalog.get("article-authors")
    result = grade(exercise, exercise.solution.replace(" | ", " / ", 1))
    output = next(c for c in result.checks if c.name == "output")
    assert not output.passed
    assert "line 1 of the output: expected" in output.message


def test_a_wrong_output_fails_only_the_output_and_never_speaks_of_fixed_text() -> None:
    exercise = catalog.get("article-authors")
    result = grade(exercise, exercise.solution.replace(" | ", " / ", 1))
    checks = {c.name: c for c in result.checks}
    assert (checks["output"].status, checks["hidden dataset"].status) == (grading.FAILED, grading.NOT_JUDGED)
    assert "fixed text" not in checks["hidden dataset"].message
    assert [c.name for c in result.checks if c.status == grading.FAILED] == ["output"]
    assert result.first_failure is checks["output"]


def test_a_run_that_times_out_is_never_judged_flat_or_within_budget() -> None:
    exercise = catalog.get("article-authors")
    # One query, then a loop that cannot end: the visible run hits the time limit.
    result = grade(exercise, "Article.objects.count()\nwhile True:\n    pass\n")
    checks = {c.name: c for c in result.checks}
    assert checks["output"].status == grading.FAILED and "was stopped" in checks["output"].message
    for name in ("query budget", "flat", "no N+1"):
        assert checks[name].status == grading.NOT_JUDGED, checks[name]
        assert checks[name].message.startswith("Not judged: The code failed")
    assert not any(c.passed for c in result.checks)


def test_a_failed_run_already_over_budget_fails_the_budget_with_what_it_sent() -> None:
    exercise = catalog.get("article-authors")
    code = "for article in Article.objects.all():\n    article.author.name\n1 / 0\n"
    checks = {c.name: c for c in grade(exercise, code).checks}
    assert checks["query budget"].status == grading.FAILED
    assert checks["query budget"].message.startswith("Your code already sent ")
    assert checks["no N+1"].status == grading.FAILED  # the repeated statements are there to see
    assert checks["flat"].status == grading.NOT_JUDGED


def test_every_check_in_json_has_a_status_and_the_passed_flag() -> None:
    exercise = catalog.get("article-authors")
    data = grade(exercise, exercise.solution.replace(" | ", " / ", 1)).to_json()
    assert {(c["status"], c["passed"]) for c in data["checks"]} <= {
        ("passed", True),
        ("failed", False),
        ("not judged", False),
    }


def test_the_hidden_dataset_is_larger_and_seeded_differently() -> None:
    hidden = grading.hidden_dataset(DatasetRef("default", 1))
    assert hidden.size == "large"
    assert hidden.seed != 1


def test_hints_open_one_at_a_time_and_the_solution_is_never_in_the_page(db: None, client: Client) -> None:
    exercise = catalog.get("article-tags")
    page = client.get(exercise.url).text
    hints = [MarkdownIt("commonmark").renderInline(hint) for hint in exercise.hints]
    assert all("`" not in hint for hint in hints) and any(
        "<code>" in hint for hint in hints
    )  # Markdown, rendered
    first, second = page.index(hints[0]), page.index(hints[1])
    assert first < page.index("Hint 2") < second < page.index("</details>")
    assert exercise.solution.strip() not in page
    assert client.get(f"{exercise.url}solution").status_code == 403


# Right output within the budget, yet not the technique the exercise teaches.
RIGHT_ANSWER_WRONG_TECHNIQUE = {
    "titles-only": (
        "columns",
        """
articles = Article.objects.filter(status="published").order_by("-pub_date", "-id").select_related("author")[:30]
for article in articles:
    print(f"{article.title} | {article.views} | {article.author.username}")
""",
    ),
    "author-emails": (
        "no model instances",
        """
top_articles = Article.objects.filter(status="published").order_by("-views", "id")[:10]
people = Author.objects.filter(comments__article__in=top_articles, comments__is_approved=True)
for author in people.distinct().order_by("joined_at", "id"):
    print(f"{author.email} | {author.name}")
""",
    ),
    "stream-word-count": (
        "streaming",
        """
count = total = 0
longest = None
for article_id, slug, body in Article.objects.published().values_list("id", "slug", "body"):
    words = len(body.split())
    count += 1
    total += words
    if longest is None or (words, -article_id) > (longest[0], -longest[1]):
        longest = (words, article_id, slug)
print(f"articles | {count}")
print(f"words | {total}")
print(f"average | {total // count}")
print(f"longest | {longest[2]} | {longest[0]}")
""",
    ),
    "explain-index": (
        "index",
        """
import collections
import datetime

start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
end = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
# Only published articles have a pub_date, so the status condition changes no row: only the plan.
dates = Article.objects.filter(pub_date__gte=start, pub_date__lt=end).values_list("pub_date", flat=True)
counts = collections.Counter((when.year, (when.month - 1) // 3 + 1) for when in dates)
for year in (2024, 2025):
    for quarter in (1, 2, 3, 4):
        print(f"{year}-Q{quarter} | {counts[year, quarter]}")
print(f"total | {sum(counts.values())}")
""",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("slug", sorted(RIGHT_ANSWER_WRONG_TECHNIQUE))
def test_the_right_answer_by_the_wrong_technique_fails_only_the_technique(slug: str) -> None:
    name, code = RIGHT_ANSWER_WRONG_TECHNIQUE[slug]
    result = grade(catalog.get(slug), code.strip() + "\n")
    failed = [c.name for c in result.checks if not c.passed]
    assert failed == [name], result.checks
    assert not result.passed


@pytest.mark.parametrize("slug", sorted(RIGHT_ANSWER_WRONG_TECHNIQUE))
def test_the_exercises_that_teach_a_technique_check_it(slug: str) -> None:
    name, _ = RIGHT_ANSWER_WRONG_TECHNIQUE[slug]
    assert name in {t.name for t in catalog.get(slug).techniques}


def test_grading_runs_the_visible_and_the_hidden_dataset_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two runs overlap: each lasts a second of sleep, and each starts before the other ends."""
    spans: list[tuple[float, float]] = []
    real_run = runner.run

    def timed(request: RunRequest) -> RunResult:
        started = time.monotonic()
        try:
            return real_run(request)
        finally:
            spans.append((started, time.monotonic()))

    monkeypatch.setattr(runner, "run", timed)
    exercise = catalog.get("article-authors")
    grading._reference_cache.clear()
    grade(exercise, exercise.solution)  # the references, run one after the other, and the code twice
    spans.clear()
    grade(exercise, "import time\ntime.sleep(1)\n" + exercise.solution)
    (first_start, first_end), (second_start, second_end) = sorted(spans)
    assert second_start < first_end, spans
