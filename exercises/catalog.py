"""Exercises as data: one TOML file per exercise in this folder, named by its slug.

The reference ``solution`` stays on the server: nothing here is sent to a
browser except through ``Exercise.public()`` and, after a first submission,
the solution view.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.urls import reverse

DIRECTORY = Path(__file__).resolve().parent / "content"
DIFFICULTIES = ("easy", "medium", "hard")
REQUIRED = ("title", "difficulty", "order", "lesson", "budget", "prompt", "starter", "solution", "hints")


class ExerciseError(Exception):
    pass


TECHNIQUE_KINDS = ("unselected", "instances", "streamed", "plan")


@dataclass(frozen=True)
class Technique:
    """What the queries must show where the output cannot: a ``[[technique]]`` table of the file.

    ``unselected``: no statement's SELECT list names any of ``columns`` ("table.column").
    ``instances``: no statement's rows become model instances of ``table``.
    ``streamed``: every statement reading ``table`` sent its rows in chunks (``iterator()``).
    ``plan``: every statement reading ``table`` is planned as a search of the index ``index``.
    ``message`` tells the learner what to change when it fails.
    """

    name: str
    kind: str
    message: str
    columns: tuple[str, ...] = ()
    table: str = ""
    index: str = ""


def _technique(path: Path, data: Any) -> Technique:
    if not isinstance(data, dict) or data.get("kind") not in TECHNIQUE_KINDS:
        raise ExerciseError(f"{path.name}: a [[technique]] has a kind, one of {', '.join(TECHNIQUE_KINDS)}")
    needs = {
        "unselected": {"columns"},
        "instances": {"table"},
        "streamed": {"table"},
        "plan": {"table", "index"},
    }[data["kind"]]
    allowed = {"name", "kind", "message"} | needs
    if set(data) != allowed:
        raise ExerciseError(
            f"{path.name}: a {data['kind']} technique has exactly {', '.join(sorted(allowed))}"
        )
    return Technique(
        name=data["name"],
        kind=data["kind"],
        message=data["message"].strip(),
        columns=tuple(data.get("columns", ())),
        table=data.get("table", ""),
        index=data.get("index", ""),
    )


@dataclass(frozen=True)
class Exercise:
    slug: str
    title: str
    difficulty: str
    order: int
    lesson: str
    budget: int
    prompt: str
    starter: str
    solution: str
    hints: tuple[str, ...]
    ordering: str = "exact"
    probe: str | None = None
    techniques: tuple[Technique, ...] = ()

    @property
    def needs_plans(self) -> bool:
        return any(t.kind == "plan" for t in self.techniques)

    @property
    def writes(self) -> bool:
        """Graded on the rows it leaves behind (its probe's output), not on what it prints."""
        return self.probe is not None

    @property
    def url(self) -> str:
        return reverse("exercises:exercise", args=[self.slug])

    def public(self) -> dict[str, Any]:
        return {"slug": self.slug, "title": self.title, "difficulty": self.difficulty, "url": self.url}


def parse(path: Path) -> Exercise:
    with path.open("rb") as file:
        data = tomllib.load(file)
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise ExerciseError(f"{path.name}: missing {', '.join(missing)}")
    if data["difficulty"] not in DIFFICULTIES:
        raise ExerciseError(f"{path.name}: difficulty must be one of {', '.join(DIFFICULTIES)}")
    if data.get("ordering", "exact") not in {"exact", "any"}:
        raise ExerciseError(f"{path.name}: ordering must be 'exact' or 'any'")
    unknown = set(data) - {*REQUIRED, "ordering", "probe", "technique"}
    if unknown:
        raise ExerciseError(f"{path.name}: unknown key(s) {', '.join(sorted(unknown))}")
    return Exercise(
        slug=path.stem,
        title=data["title"],
        difficulty=data["difficulty"],
        order=int(data["order"]),
        lesson=data["lesson"],
        budget=int(data["budget"]),
        prompt=data["prompt"].strip(),
        starter=data["starter"].strip() + "\n",
        solution=data["solution"].strip() + "\n",
        hints=tuple(data["hints"]),
        ordering=data.get("ordering", "exact"),
        probe=(data["probe"].strip() + "\n") if data.get("probe") else None,
        techniques=tuple(_technique(path, t) for t in data.get("technique", [])),
    )


@functools.cache
def all_exercises() -> tuple[Exercise, ...]:
    exercises = [parse(path) for path in DIRECTORY.glob("*.toml")]
    return tuple(sorted(exercises, key=lambda e: (DIFFICULTIES.index(e.difficulty), e.order, e.slug)))


def get(slug: str) -> Exercise:
    for exercise in all_exercises():
        if exercise.slug == slug:
            return exercise
    raise KeyError(slug)


def for_lesson(lesson_slug: str) -> list[Exercise]:
    """The exercises that practise ``lesson_slug``, in their order."""
    return sorted((e for e in all_exercises() if e.lesson == lesson_slug), key=lambda e: e.order)
