"""The lesson pages' own promises, through real requests."""

import re
import threading
from pathlib import Path
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from blog import seed
from lessons import loader, runs
from sandbox import datasets
from sandbox.contract import DatasetRef


def test_a_lesson_page_names_the_sizes_whose_first_run_builds_a_dataset(
    db: None, client: Client, settings: Any, tmp_path: Path
) -> None:
    settings.DATASETS_DIR = tmp_path  # no dataset is built here yet
    seed.seed("tiny", 5)
    cold = client.get("/lessons/n-plus-one/").context["cold_sizes"].split()
    assert cold == ["small", "default", "large"]
    datasets.ensure(DatasetRef("small", 5))
    page = client.get("/lessons/n-plus-one/")
    assert page.context["cold_sizes"] == "default large"
    assert 'data-cold-sizes="default large"' in page.text


def test_a_lesson_page_reads_the_live_seeding_once(db: None, client: Client) -> None:
    """Under a class's load every statement waits for a CPU: the live seeding is read once, not twice."""
    seed.seed("tiny", 1)
    client.get("/lessons/n-plus-one/")  # a learner's first view starts their session
    with CaptureQueriesContext(connection) as statements:
        assert client.get("/lessons/n-plus-one/").status_code == 200
    assert sum("blog_dataset" in query["sql"] for query in statements.captured_queries) == 1


def test_a_comparison_is_measured_once_and_served_to_the_next_learner(db: None) -> None:
    seed.seed("tiny", 1)
    first, second = Client(), Client()
    url = "/lessons/n-plus-one/run/authors/"
    measured = first.post(url, {"size": "small", "latency": "0"}).context["outcome"]
    served = second.post(url, {"size": "small", "latency": "0"}).context["outcome"]
    assert not measured.shared and served.shared
    assert served.measured_at == measured.measured_at
    assert served.bad.wall_ms == measured.bad.wall_ms and served.good.query_count == measured.good.query_count
    assert (
        "the figures every learner sees on this dataset"
        in second.post(url, {"size": "small", "latency": "0"}).text
    )
    again = second.post(url, {"size": "small", "latency": "0", "again": "1"}).context["outcome"]
    assert not again.shared and again.measured_at > measured.measured_at
    # Another latency is another measurement.
    assert not first.post(url, {"size": "small", "latency": "5"}).context["outcome"].shared


def test_a_reset_to_other_rows_measures_afresh(db: None) -> None:
    seed.seed("tiny", 1)
    url = "/lessons/n-plus-one/run/authors/"
    Client().post(url, {"size": "small", "latency": "0"})
    seed.seed("tiny", 2)  # the live seed changes: the sizes' datasets are other rows
    assert not Client().post(url, {"size": "small", "latency": "0"}).context["outcome"].shared


def test_scale_it_is_measured_once_too(db: None) -> None:
    seed.seed("tiny", 1)
    url = "/lessons/n-plus-one/scale/authors/"
    assert not Client().post(url).context["scaled"].shared
    again = Client().post(url, headers={"HX-Request": "true"})
    assert again.context["scaled"].shared and "Run again" in again.text


def test_measuring_after_a_reset_makes_the_first_scale_it_instant(db: None) -> None:
    seed.seed("tiny", 1)
    assert runs.measure_all(1, only=frozenset({"n-plus-one"})) == len(loader.get("n-plus-one").comparisons)
    assert runs.measure_all(1, only=frozenset({"n-plus-one"})) == 0  # kept: nothing to measure again
    assert Client().post("/lessons/n-plus-one/scale/counts/").context["scaled"].shared


def test_a_fresh_measurement_says_now(db: None) -> None:
    seed.seed("tiny", 1)
    page = Client().post("/lessons/n-plus-one/run/authors/", {"size": "small", "latency": "0"}).text
    assert re.search(r"Measured <time datetime=\"[^\"]+\">now</time>\s+on small", page)


def test_learners_asking_at_once_share_one_measurement(monkeypatch: Any) -> None:
    """The second asks while the first measures: it waits for that measurement instead of its own."""
    comparison = loader.get("n-plus-one").comparison("authors")
    datasets.ensure(DatasetRef("small", 1))
    measuring, waiting, go = threading.Event(), threading.Event(), threading.Event()
    measured: list[str] = []
    real_compare, real_wait = runs.compare, runs._wait_for_another

    def held_compare(*args: Any, **kwargs: Any) -> runs.ComparisonRun:
        measured.append(threading.current_thread().name)
        measuring.set()
        assert go.wait(60)
        return real_compare(*args, **kwargs)

    def observed_wait() -> None:
        waiting.set()
        real_wait()

    monkeypatch.setattr(runs, "compare", held_compare)
    monkeypatch.setattr(runs, "_wait_for_another", observed_wait)
    results: dict[str, runs.ComparisonRun] = {}

    def learner() -> None:
        name = threading.current_thread().name
        results[name] = runs.shared_compare(comparison, size="small", latency_ms=0, seed=1, again=False)

    first = threading.Thread(target=learner, name="first")
    first.start()
    assert measuring.wait(60)
    second = threading.Thread(target=learner, name="second")
    second.start()
    assert waiting.wait(60)  # the second is waiting on the first's measurement
    go.set()
    first.join(120)
    second.join(120)
    assert measured == ["first"]
    assert not results["first"].shared and results["second"].shared
    assert results["second"].bad.query_count == results["first"].bad.query_count


def test_kept_panels_never_stand_in_for_a_new_measurement(db: None) -> None:
    """The panels are rendered once per measurement: Run again shows its own figures."""
    from core.templatetags.query_panel import ms

    seed.seed("tiny", 1)
    url = "/lessons/n-plus-one/run/authors/"
    client = Client()
    shown = []
    for data in ({"size": "small", "latency": "0"}, {"size": "small", "latency": "0", "again": "1"}):
        response = client.post(url, data, headers={"HX-Request": "true"})
        outcome = response.context["outcome"]
        for result in (outcome.bad, outcome.good):
            median = f'title="median of {result.wall_ms.n} runs">{ms(result.wall_ms.median)} ms'
            assert median in response.text
        shown.append(outcome.measured_at)
    assert shown[0] != shown[1]
