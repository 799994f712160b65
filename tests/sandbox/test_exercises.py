"""Every exercise, graded for real on tiny (visible) and small (hidden)."""

import pytest
from django.test import Client

from sandbox import exercises, grading, runner
from sandbox.contract import DatasetRef, RunRequest

VISIBLE = DatasetRef("tiny", 1)
HIDDEN = DatasetRef("small", 7920)
EXERCISES = exercises.all_exercises()
PINNED = [
    "article-authors",
    "article-tags",
    "recent-comments",
    "prolific-authors",
    "category-summary",
    "bump-views",
]


def grade(exercise: exercises.Exercise, code: str) -> grading.Grade:
    return grading.grade(exercise, code, visible=VISIBLE, hidden=HIDDEN)


def test_there_are_at_least_sixteen_exercises_including_the_pinned_ones() -> None:
    slugs = {e.slug for e in EXERCISES}
    assert len(slugs) >= 16
    assert set(PINNED) <= slugs


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.slug)
def test_the_reference_solution_passes(exercise: exercises.Exercise) -> None:
    result = grade(exercise, exercise.solution)
    assert result.passed, [c for c in result.checks if not c.passed]


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.slug)
def test_the_starter_gives_the_right_answer_with_too_many_queries(exercise: exercises.Exercise) -> None:
    result = grade(exercise, exercise.starter)
    checks = {c.name: c for c in result.checks}
    assert not result.passed
    assert checks["hidden dataset"].passed
    assert not (checks["query budget"].passed and checks["flat"].passed and checks["no N+1"].passed)


@pytest.mark.slow
@pytest.mark.parametrize("exercise", [e for e in EXERCISES if not e.writes], ids=lambda e: e.slug)
def test_printing_the_visible_answer_fails_on_the_hidden_dataset(exercise: exercises.Exercise) -> None:
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
    exercise = exercises.get(slug)
    result = grade(exercise, exercise.starter)
    n_plus_one = next(c for c in result.checks if c.name == "no N+1")
    assert not n_plus_one.passed
    assert n_plus_one.message.startswith("line ")
    assert "select_related" in n_plus_one.message or "prefetch_related" in n_plus_one.message


def test_a_wrong_line_is_shown_expected_against_actual() -> None:
    exercise = exercises.get("article-authors")
    result = grade(exercise, exercise.solution.replace(" | ", " / ", 1))
    output = next(c for c in result.checks if c.name == "output")
    assert not output.passed
    assert "line 1 of the output: expected" in output.message


def test_the_hidden_dataset_is_larger_and_seeded_differently() -> None:
    hidden = grading.hidden_dataset(DatasetRef("default", 1))
    assert hidden.size == "large"
    assert hidden.seed != 1


def test_hints_open_one_at_a_time_and_the_solution_is_never_in_the_page(db: None, client: Client) -> None:
    exercise = exercises.get("article-tags")
    page = client.get(exercise.url).text
    first, second = page.index(exercise.hints[0]), page.index(exercise.hints[1])
    assert first < page.index("Hint 2") < second < page.index("</details>")
    assert exercise.solution.strip() not in page
    assert client.get(f"{exercise.url}solution").status_code == 403
