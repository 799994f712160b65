import json
import re
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker

from blog import seed
from blog.models import Dataset
from exercises import catalog
from exercises.models import Progress, Snippet
from instructor import resets
from instructor.models import ResetJob
from sandbox.contract import DatasetRef
from tests.nodes import manage, node_env


def wait_for(job: ResetJob, timeout: float = 120) -> ResetJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.active is None:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job.pk} still {job.status} after {timeout} s")


def test_anonymous_visitors_are_sent_to_the_login_page(db: None, client: Client) -> None:
    response = client.get("/instructor/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/instructor/"
    assert client.post("/instructor/reset", {"size": "tiny", "seed": "1"}).status_code == 302


def test_signed_in_learners_get_403(learner_client: Client) -> None:
    assert learner_client.get("/instructor/").status_code == 403
    assert learner_client.post("/instructor/reset", {"size": "tiny", "seed": "1"}).status_code == 403
    assert not ResetJob.objects.exists()


def test_staff_see_the_dashboard_with_the_live_dataset(staff_client: Client, tiny: Dataset) -> None:
    response = staff_client.get("/instructor/")
    assert response.status_code == 200
    assert tiny.digest[:12] in response.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"size": "huge", "seed": "1"}, "Select a valid choice. huge is not one of the available choices."),
        ({"size": "tiny", "seed": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({"size": "tiny", "seed": "abc"}, "Enter a whole number."),
        ({"size": "tiny", "seed": "1", "preset": "nowhere"}, "There is no preset &#x27;nowhere&#x27;"),
    ],
)
def test_bad_input_gets_a_form_error_and_changes_nothing(
    staff_client: Client, tiny: Dataset, data: dict[str, str], message: str
) -> None:
    response = staff_client.post("/instructor/reset", data)
    assert response.status_code == 400
    assert message in response.text
    assert not ResetJob.objects.exists()
    assert seed.dataset_digest() == tiny.digest


def test_a_reset_runs_in_the_background_and_switches_the_dataset(
    task_worker: Worker, staff_client: Client
) -> None:
    before = seed.seed("tiny", 1)
    response = staff_client.post("/instructor/reset", {"size": "small", "seed": "3"})
    assert response.status_code == 302
    job = wait_for(ResetJob.objects.get())
    assert job.status == "succeeded", job.error
    live = seed.live_dataset()
    assert live is not None
    assert (live.size, live.seed) == ("small", 3)
    assert job.previous == before
    assert job.result == live
    assert resets.progress(job)["percent"] == 100
    audit = staff_client.get("/instructor/").text
    assert "small, seed 3" in audit
    assert "teacher" in audit
    assert "succeeded" in audit


def test_a_second_reset_while_one_is_queued_is_refused(staff_client: Client, tiny: Dataset) -> None:
    resets.start(None, size="small", seed_value=1)
    response = staff_client.post("/instructor/reset", {"size": "default", "seed": "1"})
    assert response.status_code == 400
    assert "A reset is already queued" in response.text
    assert ResetJob.objects.count() == 1


def test_a_failed_reset_leaves_the_previous_dataset_live_and_says_why(
    staff_client: Client, tmp_path: Path, settings: settings
) -> None:
    # No task worker, and the test's transaction never commits: the queued job waits for run() below.
    before = seed.seed("tiny", 1)
    settings.PRESETS_DIR = tmp_path
    preset = tmp_path / "vanishing.json"
    preset.write_text(json.dumps({"title": "Gone soon", "size": "small", "seed": 5}))
    job = resets.start(None, size="tiny", seed_value=1, preset="vanishing")
    preset.unlink()
    job = resets.run(job.pk)
    assert job.status == "failed"
    assert "there is no preset 'vanishing'" in job.error
    assert seed.dataset_digest() == before.digest
    assert seed.live_dataset() == before
    audit = staff_client.get("/instructor/").text
    assert "failed: PresetError: there is no preset" in audit.replace("&#x27;", "'")


def test_one_click_restores_the_previous_dataset(task_worker: Worker, staff_client: Client) -> None:
    first = seed.seed("tiny", 1)
    wait_for(resets.start(None, size="small", seed_value=2))
    job = ResetJob.objects.get()
    response = staff_client.post("/instructor/restore", {"job": job.pk})
    assert response.status_code == 302
    restored = wait_for(ResetJob.objects.exclude(pk=job.pk).get())
    assert restored.status == "succeeded"
    assert seed.dataset_digest() == first.digest


def test_learners_progress_and_shared_snippets_survive_a_reset(task_worker: Worker) -> None:
    seed.seed("tiny", 1)
    Progress.objects.create(session_key="s" * 32, exercise="article-authors", attempts=2, passed=True)
    snippet = Snippet.objects.create(code="print(1)", result={"stdout": "1\n"})
    wait_for(resets.start(None, size="small", seed_value=4))
    assert Progress.objects.get().passed
    assert Snippet.objects.get().code == snippet.code


def test_the_class_view_counts_attempts_passes_and_the_most_common_failure(staff_client: Client) -> None:
    for i, (passed, failure) in enumerate(
        [(True, ""), (False, "query budget"), (False, "query budget"), (False, "output")]
    ):
        Progress.objects.create(
            session_key=f"{i:032}", exercise="article-tags", attempts=1, passed=passed, last_failure=failure
        )
    response = staff_client.get("/instructor/class/", headers={"HX-Request": "true"})
    title = catalog.get("article-tags").title
    assert (
        f'<tr><td>{title}</td><td class="num">4</td><td class="num">1</td><td>query budget</td></tr>'
        in response.text
    )
    assert "<html" not in response.text and "4 anonymous sessions have records" in response.text


def test_the_class_view_lists_signed_in_learners_with_what_they_passed_latest_first(
    staff_client: Client, django_user_model: Any
) -> None:
    ada, bo = (
        django_user_model.objects.create_user(name, password="a long pass phrase") for name in ("ada", "bo")
    )
    Progress.objects.create(user=ada, session_key="a", exercise="article-tags", attempts=2, passed=True)
    Progress.objects.create(user=ada, session_key="a", exercise="has-drafts", attempts=1, passed=True)
    Progress.objects.create(user=bo, session_key="b", exercise="has-drafts", attempts=5, passed=False)
    Progress.objects.filter(user=ada).update(updated_at=timezone.now() - timedelta(hours=3))
    page = staff_client.get("/instructor/class/", headers={"HX-Request": "true"}).text
    rows = re.findall(r'<tr><td>(\w+)</td><td class="num">(\d+)</td><td><time', page)
    assert rows == [("bo", "0"), ("ada", "2")]
    assert "3\xa0hours ago" in page


def test_the_class_fragment_visited_directly_is_the_whole_dashboard(staff_client: Client) -> None:
    response = staff_client.get("/instructor/class/")
    assert response.status_code == 302 and response["Location"] == "/instructor/#class"
    assert "<html" in staff_client.get(response["Location"]).text


@pytest.mark.slow
def test_runs_during_a_reset_see_the_old_or_the_new_dataset_never_a_mix(
    task_worker: Worker, staff_client: Client
) -> None:
    from sandbox import runner

    old = seed.seed("tiny", 1)
    new_counts = seed.SIZES["default"]
    new_digest = runner.prepare(DatasetRef("default", 6))["dataset"]["digest"]
    expected = {old.digest: (20, 60), new_digest: (new_counts.articles, new_counts.comments)}
    results: list[dict[str, object]] = []
    stop = threading.Event()

    def hammer() -> None:
        client = Client(enforce_csrf_checks=False)
        try:
            while not stop.is_set():
                response = client.post(
                    "/api/run",
                    data=json.dumps({"code": "print(Article.objects.count(), Comment.objects.count())"}),
                    content_type="application/json",
                )
                results.append(response.json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    job = wait_for(resets.start(None, size="default", seed_value=6))
    time.sleep(2)  # within two seconds every run is on the new dataset
    cutoff = len(results)
    time.sleep(1)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert job.status == "succeeded", job.error
    seen = set()
    for result in results:
        assert result["error"] is None, result["error"]
        digest = result["dataset"]["digest"]  # type: ignore[index]
        assert digest in expected
        assert tuple(map(int, str(result["stdout"]).split())) == expected[digest]
        seen.add(digest)
    assert seen == set(expected)
    assert all(r["dataset"]["digest"] == new_digest for r in results[cutoff:])  # type: ignore[index]


@pytest.mark.slow
def test_the_real_task_worker_command_runs_a_queued_reset(tmp_path: Path) -> None:
    env = node_env(str(tmp_path))
    manage("migrate", "-v", "0", env=env)  # tests.nodes.manage asserts each command succeeds
    manage("seed_blog", "--size", "tiny", env=env)
    manage(
        "shell",
        "-c",
        "from instructor import resets; print(resets.start(None, size='small', seed_value=8).pk)",
        env=env,
    )
    manage("db_worker", "--batch", "--no-startup-delay", "--queue-name", "*", env=env)
    status = manage(
        "shell",
        "-c",
        "from instructor.models import ResetJob; j = ResetJob.objects.get(); print(j.status, j.size, j.seed)",
        env=env,
    )
    assert status.stdout.strip().splitlines()[-1] == "succeeded small 8", status.stderr


def test_a_reset_that_succeeds_queues_the_warm_up_of_its_seed(staff_client: Client, settings: Any) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.QUERYLAB_MEASURE_AFTER_RESET = True
    seed.seed("tiny", 1)
    job = resets.run(resets.start(None, size="tiny", seed_value=3).pk)
    assert job.status == "succeeded"
    queued = DBTaskResult.objects.filter(task_path="exercises.tasks.warm_up")
    assert queued.count() == 1  # it warms the live seed: the one just reset to
    assert seed.live_dataset() == job.result
