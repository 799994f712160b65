"""Ready for a class before it arrives: the datasets every page and grade needs, and Scale it.

Each start (``make run`` or ``make serve``) and each instructor's reset queue ``warm`` for
the task worker, so the server answers at once while the worker builds, in the background:

* every dataset a learner can reach on the live seed: each size a lesson offers or
  scales over, and the hidden dataset grades run on (``large`` takes seconds to build,
  and a first grade would otherwise wait for it);
* every lesson's Scale it on those datasets (``lessons.runs.measure_all``), so its first
  view is instant; comparisons already measured on the same rows are not measured again.

After a reset the live seed is the new one: its rows are new, and so are its figures. With
every size of the live seed built, resizing within it only copies rows (bench section 6).
"""

from __future__ import annotations

from collections.abc import Callable

from exercises import grading
from lessons import runs
from sandbox import runner
from sandbox.contract import DatasetRef


def datasets(live: DatasetRef) -> list[DatasetRef]:
    """Every dataset a learner can reach while ``live`` is the live one, smallest first."""
    sizes = dict.fromkeys([*runs.SCALE_SIZES, *runs.OFFERED_SIZES, live.size])
    wanted = [DatasetRef(size, live.seed) for size in sizes] + [grading.hidden_dataset(live)]
    return list(dict.fromkeys(wanted))


def warm(*, lessons: bool = True, say: Callable[[str], None] = lambda line: None) -> int:
    """Prepare every reachable dataset, then (``lessons``) measure what Scale it lacks; how many were measured."""
    live = runner.current_dataset()
    for dataset in datasets(live):
        runner.prepare(dataset)
        say(f"prepared {dataset.size}/{dataset.seed}")
    if not lessons:
        return 0
    measured = runs.measure_all(live.seed)
    say(f"measured Scale it of {measured} comparison(s); the others were kept from before")
    return measured
