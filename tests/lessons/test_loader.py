from pathlib import Path

import pytest

from lessons import loader

GOOD = """---
title: T
order: 1
summary: S
docs:
  - title: Fetch modes
    url: https://docs.djangoproject.com/en/6.1/topics/db/fetch-modes/
---

Some prose.

```python variant=bad compare=one queries=1+N
print(1)
```

```python variant=good compare=one queries=1
print(1)
```
"""


def write(tmp_path: Path, text: str, name: str = "01-sample.md") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_valid_lesson_parses_into_prose_and_a_comparison(tmp_path: Path) -> None:
    lesson = loader.parse(write(tmp_path, GOOD))
    assert lesson.slug == "sample"
    assert [s.comparison is not None for s in lesson.segments] == [False, True]
    assert lesson.comparisons["one"].bad.queries == "1+N"
    assert lesson.comparisons["one"].good.line == 16


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            GOOD.replace("variant=good compare=one", "variant=good compare=two"),
            12,
            "compare=one has no good block",
        ),
        (GOOD.replace("queries=1\n", "queries=1 colour=red\n"), 16, "unknown block attribute 'colour'"),
        (GOOD.replace("queries=1+N", "queries=lots"), 12, "queries=lots is not a count or a formula in N"),
        (GOOD.replace("variant=good", "variant=bad"), 16, "compare=one already has a bad block"),
        (GOOD.replace("title: T\n", ""), 2, "front matter needs 'title'"),
        (
            GOOD.replace("https://docs.djangoproject.com/en/6.1/", "https://example.com/"),
            2,
            "docs: links point into https://docs.djangoproject.com/en/6.1/",
        ),
        (GOOD.replace("    url: https", "    href: https"), 2, "each docs: entry has a title and a url"),
        (
            GOOD.replace(" queries=1\n", "\n"),
            16,
            "a runnable block declares queries=<count> or raises=<Error>",
        ),
    ],
)
def test_a_broken_lesson_names_its_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    with pytest.raises(loader.LessonError) as error:
        loader.parse(write(tmp_path, text))
    assert str(error.value).startswith(f"01-sample.md:{line}: {message}")


def test_a_duplicate_slug_is_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "01-sample.md")
    write(tmp_path, GOOD, "02-sample.md")
    with pytest.raises(loader.LessonError, match="02-sample.md:1: duplicate slug 'sample'"):
        loader.load(tmp_path)


@pytest.mark.parametrize(("formula", "n", "expected"), [("2", 9, 2), ("1+N", 20, 21), ("1+2*N", 5, 11)])
def test_declared_counts_are_evaluated_for_n(formula: str, n: int, expected: int) -> None:
    assert loader.expected_queries(formula, n) == expected


def test_the_shipped_lessons_all_load_in_order() -> None:
    lessons = loader.load()
    assert len(lessons) >= 16
    assert [lesson.order for lesson in lessons] == sorted(lesson.order for lesson in lessons)


def test_a_tradeoff_is_one_quoted_sentence_on_the_good_block(tmp_path: Path) -> None:
    text = GOOD.replace(
        "```python variant=good compare=one queries=1",
        '```python variant=good compare=one queries=1 tradeoff="Fewer queries, the same time: each is cheap here."',
    )
    comparison = loader.parse(write(tmp_path, text)).comparisons["one"]
    assert comparison.tradeoff == "Fewer queries, the same time: each is cheap here."
    assert comparison.good.to_json()["tradeoff"] == comparison.tradeoff
    assert comparison.bad.to_json()["tradeoff"] is None


def test_a_tradeoff_on_the_bad_block_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        "```python variant=bad compare=one queries=1+N",
        '```python variant=bad compare=one queries=1+N tradeoff="x"',
    )
    with pytest.raises(loader.LessonError, match="tradeoff= belongs on the good block"):
        loader.parse(write(tmp_path, text))
