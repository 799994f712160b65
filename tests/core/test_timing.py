"""The Server-Timing header: what a request spent in the sandbox, the database and templates."""

from typing import Any

import pytest
from django.test import Client

from blog import seed
from core import timing
from exercises import catalog
from sandbox import runner


def figures(header: str) -> dict[str, float]:
    parts = (item.strip().split(";dur=") for item in header.split(","))
    return {name: float(ms) for name, ms in parts}


def test_overlapping_spans_count_once() -> None:
    spans = timing.Spans()
    spans.add("sandbox", 1.0, 3.0)
    spans.add("sandbox", 2.0, 4.0)  # overlaps the first: 1..4 in all
    spans.add("sandbox", 2.5, 3.5)  # inside both
    spans.add("sandbox", 10.0, 10.5)
    assert spans.ms("sandbox") == pytest.approx(3500.0)
    assert spans.ms("db") == 0.0


@pytest.fixture
def seeded(db: None) -> None:
    seed.seed("tiny", 1)


def test_a_page_tells_its_database_and_template_time(seeded: None, client: Client) -> None:
    response = client.get("/lessons/n-plus-one/")
    assert response.status_code == 200
    spent = figures(response["Server-Timing"])
    assert set(spent) == {"sandbox", "db", "template", "cpu", "total"}
    assert spent["sandbox"] == 0.0  # a lesson page runs nothing until asked
    assert spent["template"] > 0.0
    assert spent["db"] > 0.0  # the session and the live dataset are read
    assert spent["total"] >= spent["template"]


def test_both_runs_of_a_grade_are_the_requests_time(seeded: None, client: Client) -> None:
    seen: list[timing.Spans | None] = []

    def record(sender: object, **kwargs: Any) -> None:
        seen.append(timing._current.get())

    runner.ran.connect(record)
    try:
        exercise = catalog.get("article-authors")
        response = client.post(
            f"/api/exercises/{exercise.slug}/grade",
            {"code": exercise.solution},
            content_type="application/json",
        )
    finally:
        runner.ran.disconnect(record)
    assert response.status_code == 200, response.text
    # The visible run here and the hidden one in the grader's thread: both in this request's spans.
    assert len(seen) >= 2
    assert all(spans is not None and spans is seen[0] for spans in seen)
    assert figures(response["Server-Timing"])["sandbox"] > 0.0


def test_off_means_no_header(seeded: None, client: Client, settings: Any) -> None:
    settings.QUERYLAB_SERVER_TIMING = False
    assert "Server-Timing" not in client.get("/lessons/n-plus-one/")
