"""The warm-up a start queues: every dataset a learner can reach, and the lessons' Scale it."""

import os
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from blog import seed
from exercises import grading, warm
from lessons import runs
from sandbox import datasets, pg
from sandbox.contract import DatasetRef


def test_every_reachable_dataset_is_named_once() -> None:
    live = DatasetRef("default", 3)
    wanted = warm.datasets(live)
    assert len(wanted) == len(set(wanted))
    assert grading.hidden_dataset(live) in wanted  # what grades run on unseen
    for size in (*runs.SCALE_SIZES, *runs.OFFERED_SIZES):
        assert DatasetRef(size, 3) in wanted


@pytest.mark.django_db
def test_a_start_queues_the_warm_up_for_the_task_worker(settings: object) -> None:
    call_command("warm", "--enqueue")
    queued = DBTaskResult.objects.filter(task_path="exercises.tasks.warm_up")
    assert queued.count() == 1
    assert queued.get().args_kwargs["kwargs"] == {"lessons": True}


@pytest.mark.django_db
def test_the_warm_up_can_be_switched_off(settings: object) -> None:
    settings.QUERYLAB_WARM_UP = False  # type: ignore[attr-defined]
    call_command("warm", "--enqueue")
    assert not DBTaskResult.objects.exists()


@pytest.fixture
def fresh_seed(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A seed no run has prepared, over the two smallest sizes; its files are removed after."""
    monkeypatch.setattr(runs, "SCALE_SIZES", ("tiny", "small"))
    monkeypatch.setattr(runs, "OFFERED_SIZES", ("tiny", "small"))
    value = 10_000 + os.getpid() % 50_000
    yield value
    if not pg.enabled():
        for dataset in warm.datasets(DatasetRef("tiny", value)):
            for path in datasets.directory().glob(f"{dataset.key()}.*"):
                path.unlink(missing_ok=True)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_warm_up_prepares_every_reachable_dataset(fresh_seed: int) -> None:
    seed.seed("tiny", fresh_seed)
    wanted = warm.datasets(DatasetRef("tiny", fresh_seed))
    assert len(wanted) == 3  # tiny, small, and the hidden one
    assert not any(datasets.prepared_digest(dataset) for dataset in wanted)
    assert warm.warm(lessons=False) == 0
    for dataset in wanted:
        assert datasets.prepared_digest(dataset), dataset
