"""Grading an exercise: the output must be right and the queries must be good.

Every check is computed from real runs (``RunResult``) of the learner's code and
of the reference solution, on the visible dataset and on a hidden one: another
size and seed, larger, never shown or named to the learner. A printed,
hard-coded answer matches the visible run and fails the hidden one.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from sandbox import runner
from sandbox.contract import DatasetRef, RunRequest, RunResult
from sandbox.exercises import Exercise

SIZES = ("tiny", "small", "default", "large")
# Added to the visible seed to pick the hidden dataset's seed. Never shown.
HIDDEN_SEED_OFFSET = 7919


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Grade:
    passed: bool
    checks: list[Check]
    result: RunResult

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if not c.passed), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [c.to_json() for c in self.checks],
            "result": self.result.to_json(),
        }


def hidden_dataset(visible: DatasetRef) -> DatasetRef:
    """A larger dataset with another seed (the largest size stays, with another seed)."""
    index = SIZES.index(visible.size) if visible.size in SIZES else 1
    return DatasetRef(SIZES[min(index + 1, len(SIZES) - 1)], visible.seed + HIDDEN_SEED_OFFSET)


_reference_cache: dict[tuple[str, DatasetRef], str] = {}
_reference_lock = threading.Lock()


def _graded_output(exercise: Exercise, result: RunResult) -> str:
    text = (result.probe_output or "") if exercise.writes else result.stdout
    lines = text.rstrip("\n").splitlines()
    return "\n".join(sorted(lines) if exercise.ordering == "any" else lines)


def reference_output(exercise: Exercise, dataset: DatasetRef) -> str:
    """The reference solution's graded output on ``dataset`` (deterministic, so cached)."""
    key = (exercise.slug, dataset)
    with _reference_lock:
        if key in _reference_cache:
            return _reference_cache[key]
    result = runner.run(RunRequest(exercise.solution, dataset=dataset, probe=exercise.probe))
    if result.error is not None:
        raise RuntimeError(f"the reference solution of {exercise.slug} failed: {result.error.message}")
    output = _graded_output(exercise, result)
    with _reference_lock:
        _reference_cache[key] = output
    return output


def first_difference(expected: str, actual: str) -> str:
    want, got = expected.splitlines(), actual.splitlines()
    for number, (w, g) in enumerate(zip(want, got, strict=False), start=1):
        if w != g:
            return f"line {number} of the output: expected {w!r}, got {g!r}"
    if len(got) < len(want):
        return f"the output stops after {len(got)} lines; expected {len(want)}, next {want[len(got)]!r}"
    return f"the output has {len(got) - len(want)} extra line(s), starting with {got[len(want)]!r}"


def _output_check(exercise: Exercise, result: RunResult, expected: str, hidden: bool) -> Check:
    name = "hidden dataset" if hidden else ("resulting rows" if exercise.writes else "output")
    if result.error is not None:
        where = f" on line {result.error.line}" if result.error.line else ""
        return Check(name, False, f"The code failed{where}: {result.error.message}")
    actual = _graded_output(exercise, result)
    if actual == expected:
        return Check(name, True, "Matches the reference." if not hidden else "Right on a second dataset too.")
    if hidden:
        return Check(
            name,
            False,
            "Right on the data you can see, wrong on another dataset: compute the answer from the "
            "database instead of printing fixed text or relying on particular ids.",
        )
    what = "The rows your code leaves behind differ" if exercise.writes else "The output differs"
    return Check(name, False, f"{what}: {first_difference(expected, actual)}.")


def grade(
    exercise: Exercise,
    code: str,
    *,
    visible: DatasetRef | None = None,
    hidden: DatasetRef | None = None,
) -> Grade:
    """Run ``code`` on the visible and the hidden dataset and apply every check."""
    visible = visible or runner.current_dataset()
    hidden = hidden or hidden_dataset(visible)
    seen = runner.run(RunRequest(code, dataset=visible, probe=exercise.probe))
    if seen.error is not None and seen.error.kind in {"busy", "internal"}:
        return Grade(False, [Check("run", False, seen.error.message)], seen)
    unseen = runner.run(RunRequest(code, dataset=hidden, probe=exercise.probe))
    checks = [
        _output_check(exercise, seen, reference_output(exercise, visible), hidden=False),
        _output_check(exercise, unseen, reference_output(exercise, hidden), hidden=True),
    ]
    worst = max(seen.query_count, unseen.query_count)
    budget_message = (
        f"{worst} quer{'y' if worst == 1 else 'ies'}, within the budget of {exercise.budget}."
        if worst <= exercise.budget
        else f"Your code runs {worst} queries; the budget is {exercise.budget}."
    )
    checks.append(Check("query budget", worst <= exercise.budget, budget_message))
    grows = unseen.query_count > seen.query_count
    checks.append(
        Check(
            "flat",
            not grows,
            f"The query count grows with the data ({seen.query_count} → {unseen.query_count} on a larger "
            "dataset): something runs once per row."
            if grows
            else "The query count stays flat as the data grows.",
        )
    )
    findings = seen.findings or unseen.findings
    checks.append(
        Check(
            "no N+1",
            not findings,
            "; ".join(f.message for f in findings) if findings else "No repeated per-row queries.",
        )
    )
    return Grade(all(c.passed for c in checks), checks, seen)
