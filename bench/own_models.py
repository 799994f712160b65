"""Section 8: what a learner's own models add to a run.

The same code, run alternately with and without a source of five models (their
classes defined in the child, their tables made by the supervisor in the run's
copy), end to end through ``runner.run`` as the playground calls it. Target: the
models cost at most 20 ms more, p50.
"""

from __future__ import annotations

import time

from bench import report
from bench.timing import Stats
from sandbox import runner
from sandbox.contract import DatasetRef, RunRequest

DATASET = DatasetRef("default", 1)
RUNS = 40
TARGET_MS = 20.0
CODE = "print(Article.objects.count())\n"
FIVE_MODELS = """\
from django.db import models


class Publisher(models.Model):
    name = models.CharField(max_length=100, unique=True)


class Shelf(models.Model):
    label = models.CharField(max_length=40)
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    shelf = models.ForeignKey(Shelf, on_delete=models.PROTECT)
    tags = models.ManyToManyField(Tag)
    published = models.DateField(db_index=True)


class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    stars = models.PositiveSmallIntegerField()
    body = models.TextField()


class Loan(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE)
    reader = models.ForeignKey(Author, on_delete=models.CASCADE)
    due = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["reader", "due"])]
"""


def _timed(request: RunRequest) -> float:
    started = time.perf_counter()
    result = runner.run(request)
    assert result.error is None, result.error
    return time.perf_counter() - started


def run() -> str:
    runner.prepare(DATASET)
    plain, modelled = RunRequest(CODE, dataset=DATASET), RunRequest(CODE, dataset=DATASET, models=FIVE_MODELS)
    for _ in range(5):
        _timed(plain), _timed(modelled)
    without: list[float] = []
    with_models: list[float] = []
    for _ in range(RUNS):
        without.append(_timed(plain))
        with_models.append(_timed(modelled))
    a, b = Stats(tuple(without)), Stats(tuple(with_models))
    extra = Stats.pairwise(b, a, lambda m, p: m - p)
    statements = len([q for q in runner.run(modelled).queries if q.control])
    row = [
        f"`{CODE.strip()}`, 5 models ({statements} schema statements)",
        str(RUNS),
        report.figure(a, "ms"),
        report.figure(b, "ms"),
        report.figure(extra, "ms"),
        report.target(f"≤ {TARGET_MS:g} ms", extra.median * 1000 <= TARGET_MS),
    ]
    intro = (
        "## 8. Own models\n\nThe same code with and without a source of five models (classes defined in "
        f"the child, tables made by the supervisor in the run's copy), on `{DATASET.size}`, "
        f"{RUNS} runs each, alternating; end to end through `runner.run`, median (min–max)."
    )
    headers = ["run", "n", "without models", "with the models", "what the models add", "target"]
    return intro + "\n\n" + report.table(headers, [row])
