"""Every block of every lesson, run for real: the declared counts are the truth."""

import pytest
from django.test import Client

from exercises import catalog
from lessons import loader
from sandbox import analysis, runner
from sandbox.contract import DatasetRef, RunRequest, RunResult

BLOCKS = [block for lesson in loader.all_lessons() for block in lesson.blocks]


def block_id(block: loader.Block) -> str:
    return f"{block.lesson}-{block.compare}-{block.variant}"


def rows_iterated(block: loader.Block, result: RunResult, dataset: runner.DatasetRef) -> int:
    if block.n:
        counted = runner.run(RunRequest(f"print({block.n})", dataset=dataset))
        assert counted.error is None, counted.error
        return int(counted.stdout)
    return max((g.count for g in analysis.groups(result.queries)), default=0)


@pytest.mark.slow
@pytest.mark.parametrize("size", ["tiny", "small"])
@pytest.mark.parametrize("block", BLOCKS, ids=block_id)
def test_every_block_sends_the_queries_it_declares(block: loader.Block, size: str) -> None:
    dataset = DatasetRef(size, 1)
    result = runner.run(RunRequest(block.code, dataset=dataset))
    if block.raises:
        assert result.error is not None
        assert result.error.kind == "exception"
        assert result.error.message.startswith(block.raises)
        return
    assert result.error is None, result.error
    assert block.queries is not None
    n = rows_iterated(block, result, dataset)
    assert result.query_count == loader.expected_queries(block.queries, n)


@pytest.mark.slow
@pytest.mark.parametrize(
    "comparison",
    [c for lesson in loader.all_lessons() for c in lesson.comparisons.values()],
    ids=lambda c: f"{c.bad.lesson}-{c.id}",
)
def test_in_every_comparison_the_good_variant_sends_no_more_queries(comparison: loader.Comparison) -> None:
    dataset = DatasetRef("small", 1)
    bad, good = (runner.run(RunRequest(b.code, dataset=dataset)) for b in comparison.variants)
    assert good.error is None
    assert bad.error is not None or good.query_count <= bad.query_count


@pytest.mark.parametrize("lesson", loader.all_lessons(), ids=lambda lesson: lesson.slug)
def test_every_lesson_page_renders_with_its_code(db: None, client: Client, lesson: loader.Lesson) -> None:
    response = client.get(lesson.url)
    assert response.status_code == 200
    assert lesson.title in response.text
    for comparison in lesson.comparisons.values():
        assert f'id="compare-{comparison.id}"' in response.text


@pytest.mark.parametrize("lesson", loader.all_lessons(), ids=lambda lesson: lesson.slug)
def test_every_lesson_has_an_exercise(lesson: loader.Lesson) -> None:
    assert catalog.for_lesson(lesson.slug)


def test_every_exercise_is_linked_from_the_lesson_it_names(db: None, client: Client) -> None:
    lessons = {lesson.slug: lesson for lesson in loader.all_lessons()}
    for exercise in catalog.all_exercises():
        page = client.get(lessons[exercise.lesson].url).text
        assert f'href="/exercises/{exercise.slug}/"' in page, exercise.slug


def test_the_lessons_api_lists_every_lesson_and_block(db: None, client: Client) -> None:
    body = client.get("/api/lessons").json()
    assert [entry["slug"] for entry in body] == [lesson.slug for lesson in loader.all_lessons()]
    first = body[0]
    assert set(first) == {"slug", "title", "order", "summary", "url", "docs", "blocks"}
    assert set(first["blocks"][0]) == {"compare", "variant", "code", "queries", "raises", "tradeoff"}
    blocks = [block for entry in body for block in entry["blocks"]]
    declared = [b for lesson in loader.all_lessons() for b in lesson.blocks]
    assert [(b["raises"], b["tradeoff"]) for b in blocks] == [(b.raises, b.tradeoff) for b in declared]
    assert any(b["raises"] for b in blocks)


@pytest.mark.parametrize("lesson", loader.all_lessons(), ids=lambda lesson: lesson.slug)
def test_every_lesson_names_the_django_documentation_it_builds_on(
    db: None, client: Client, lesson: loader.Lesson
) -> None:
    assert lesson.docs
    page = client.get(lesson.url).text
    for doc in lesson.docs:
        assert doc.url.startswith("https://docs.djangoproject.com/en/6.1/")
        assert f'href="{doc.url}"' in page
