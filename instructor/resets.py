"""Resetting and resizing the demo data while a class is running.

A reset is a ``ResetJob`` run by the tasks framework outside any request. It
first builds the new dataset in the sandbox worker, then replaces the blog
tables in one transaction (``blog.seed.seed``) whose commit is the switch: a
run before it uses the old dataset, a run after it the new one, never a mix.
Progress goes to a small file beside the database, because the seed's own
transaction holds SQLite's write lock until the switch.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction
from django.utils import timezone

from blog import seed
from blog.models import Dataset
from instructor.models import ResetJob
from sandbox import datasets, runner
from sandbox.contract import DatasetRef


class ResetRefused(Exception):
    pass


class PresetError(Exception):
    pass


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    size: str
    seed: int


def presets_dir() -> Path:
    return Path(getattr(settings, "PRESETS_DIR", settings.BASE_DIR / "fixtures" / "presets"))


def load_preset(name: str) -> Preset:
    path = presets_dir() / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PresetError(f"there is no preset {name!r} in {presets_dir().name}/") from None
    except ValueError as exc:
        raise PresetError(f"the preset {name!r} is not valid JSON: {exc}") from None
    if data.get("size") not in seed.SIZES or not isinstance(data.get("seed"), int) or data["seed"] < 0:
        raise PresetError(f"the preset {name!r} needs a known size and a non-negative integer seed")
    return Preset(name, str(data.get("title", name)), data["size"], data["seed"])


def presets() -> list[Preset]:
    found = []
    for path in sorted(presets_dir().glob("*.json")):
        try:
            found.append(load_preset(path.stem))
        except PresetError:
            continue  # shown as missing when chosen, not here
    return found


def start(user: User | AnonymousUser | None, *, size: str, seed_value: int, preset: str = "") -> ResetJob:
    """Queue a reset, or refuse while another one is queued or running."""
    from instructor.tasks import reset_dataset

    try:
        with transaction.atomic():
            job = ResetJob.objects.create(
                size=size,
                seed=seed_value,
                preset=preset,
                requested_by=user if user is not None and user.is_authenticated else None,
                previous=seed.live_dataset(),
            )
    except IntegrityError:
        running = ResetJob.objects.filter(active=True).first()
        who = f" by {running.requested_by}" if running and running.requested_by else ""
        raise ResetRefused(
            f"A reset is already {running.status if running else 'running'}{who}; "
            "wait for it to finish, then try again."
        ) from None
    transaction.on_commit(lambda: reset_dataset.enqueue(job.pk))
    return job


def _progress_path(job_id: int) -> Path:
    return Path(settings.VAR_DIR) / "run" / f"reset-{job_id}.json"


def _write_progress(job_id: int, **fields: Any) -> None:
    path = _progress_path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(fields))
    os.replace(temporary, path)


def progress(job: ResetJob) -> dict[str, Any]:
    """Stage, rows written, rows in all, elapsed seconds and percent, for the progress bar."""
    total = sum(vars(seed.SIZES[job.size]).values()) if job.size in seed.SIZES else 0
    state: dict[str, Any] = {"stage": job.status, "rows": 0, "total": total}
    with contextlib.suppress(FileNotFoundError, ValueError):
        state.update(json.loads(_progress_path(job.pk).read_text()))
    if job.status == ResetJob.Status.SUCCEEDED:
        state.update(stage="done", rows=total)
    started = job.started_at or job.created_at
    ended = job.finished_at or timezone.now()
    state["elapsed"] = round((ended - started).total_seconds(), 1)
    state["percent"] = min(100, round(100 * state["rows"] / total)) if total else 0
    return state


def run(job_id: int) -> ResetJob:
    """Do one queued reset: build beside the live data, then switch at once."""
    job = ResetJob.objects.get(pk=job_id)
    job.status, job.started_at = ResetJob.Status.RUNNING, timezone.now()
    job.save(update_fields=["status", "started_at"])

    def report(stage: str, rows: int) -> None:
        _write_progress(job_id, stage=stage, rows=rows)

    try:
        if job.preset:
            chosen = load_preset(job.preset)
            job.size, job.seed = chosen.size, chosen.seed
        report("building the sandbox copy", 0)
        chosen_dataset = DatasetRef(job.size, job.seed)
        with seed.generating_once():  # generated once, should the app's tables not copy the sandbox's
            runner.prepare(chosen_dataset)
            # The app's tables filled from the sandbox's copy, inside the database.
            copy = datasets.copy_of(chosen_dataset)
            dataset: Dataset = seed.seed(job.size, job.seed, on_progress=report, copy=copy)
    except Exception as exc:  # every failure is reported on the job; the old data stays live
        job.status, job.error = ResetJob.Status.FAILED, f"{type(exc).__name__}: {exc}"
    else:
        job.status, job.result = ResetJob.Status.SUCCEEDED, dataset
    job.finished_at, job.active = timezone.now(), None
    job.save()
    if job.status == ResetJob.Status.SUCCEEDED and settings.QUERYLAB_MEASURE_AFTER_RESET:
        # The new seed's other sizes and hidden dataset built, and the lessons' Scale it measured
        # on its rows, now rather than when the first learner asks (exercises/warm.py).
        from exercises.tasks import warm_up

        warm_up.enqueue()
    return job
