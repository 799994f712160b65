"""A class of learners for Locust: browse a lesson, run a comparison, submit, poll the dataset."""

from __future__ import annotations

import random

from locust import HttpUser, between, task

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
