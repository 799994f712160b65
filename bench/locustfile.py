"""A class of learners for Locust: browse a lesson, run a comparison, submit, poll the dataset.

With ``QUERYLAB_TIMING_OUT`` set, each answer's Server-Timing header (core/timing.py) is
added up per endpoint and written there as JSON when the run ends: where the time went.
"""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from typing import Any

from locust import HttpUser, between, events, task

# endpoint -> figure (sandbox, db, template, cpu, total) -> sum of ms; "n" counts answers.
_spent: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))


@events.request.add_listener
def _add_server_timing(name: str, response: Any = None, **kwargs: Any) -> None:
    header = response.headers.get("Server-Timing", "") if response is not None else ""
    if not header:
        return
    figures = _spent[name]
    figures["n"] += 1
    for item in header.split(","):
        label, _, ms = item.strip().partition(";dur=")
        figures[label] += float(ms or 0)


@events.quitting.add_listener
def _write_server_timing(**kwargs: Any) -> None:
    if path := os.environ.get("QUERYLAB_TIMING_OUT"):
        with open(path, "w") as out:
            json.dump(_spent, out)


LESSONS = ["n-plus-one", "select-related", "prefetch-related", "annotate", "only-defer"]
SOLUTION = """\
articles = (
    Article.objects.published()
    .select_related("author", "category")
    .order_by("-pub_date", "-id")[:20]
)
for article in articles:
    print(f"{article.title} | {article.author.username} | {article.category.name}")
"""


class Learner(HttpUser):
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.client.get("/playground/", name="/playground/")
        # A first grade gives the learner a session: limits and progress are per learner.
        self.grade()

    def _headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.client.cookies.get("csrftoken", ""), "Referer": self.host + "/"}

    @task(4)
    def browse_lesson(self) -> None:
        self.client.get(f"/lessons/{random.choice(LESSONS)}/", name="/lessons/<slug>/")

    @task(3)
    def run_comparison(self) -> None:
        self.client.post(
            "/lessons/n-plus-one/run/authors/",
            data={"size": "small", "latency": "0"},
            headers={**self._headers(), "HX-Request": "true"},
            name="/lessons/<slug>/run/<compare>/",
        )

    @task(2)
    def grade(self) -> None:
        self.client.post(
            "/api/exercises/article-authors/grade",
            json={"code": SOLUTION},
            headers=self._headers(),
            name="/api/exercises/<slug>/grade",
        )

    @task(3)
    def poll_dataset(self) -> None:
        self.client.get("/api/dataset", name="/api/dataset")
