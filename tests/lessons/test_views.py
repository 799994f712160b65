"""The lesson pages' own promises, through real requests."""

from pathlib import Path
from typing import Any

from django.test import Client

from blog import seed
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
