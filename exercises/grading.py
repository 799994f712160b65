"""Grading an exercise: the output must be right and the queries must be good.

Every check is computed from real runs (``RunResult``) of the learner's code and
of the reference solution, on the visible dataset and on a hidden one: another
size and seed, larger, never shown or named to the learner. A printed,
hard-coded answer matches the visible run and fails the hidden one.
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from django.db import connections

from blog import seed
from exercises.catalog import Exercise, Technique
from sandbox import analysis, runner
from sandbox.contract import DatasetRef, Query, RunRequest, RunResult

# Added to the visible seed to pick the hidden dataset's seed. Never shown.
HIDDEN_SEED_OFFSET = 7919


PASSED, FAILED, NOT_JUDGED = "passed", "failed", "not judged"


@dataclass(frozen=True)
class Check:
    """One check of a grade: passed, failed, or not judged (a run it needed failed first)."""

    name: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _check(name: str, passed: bool, message: str) -> Check:
    return Check(name, PASSED if passed else FAILED, message)


@dataclass(frozen=True)
class Grade:
    passed: bool
    checks: list[Check]
    result: RunResult

    @property
    def first_failure(self) -> Check | None:
        failed = next((c for c in self.checks if c.status == FAILED), None)
        return failed or next((c for c in self.checks if not c.passed), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [c.to_json() for c in self.checks],
            "result": self.result.to_json(),
        }


def hidden_dataset(visible: DatasetRef) -> DatasetRef:
    """A larger dataset with another seed (the largest size stays, with another seed)."""
    sizes = list(seed.SIZES)  # smallest first
    index = sizes.index(visible.size) if visible.size in sizes else 1
    return DatasetRef(sizes[min(index + 1, len(sizes) - 1)], visible.seed + HIDDEN_SEED_OFFSET)


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


def _run_failure(result: RunResult) -> str:
    error = result.error
    assert error is not None
    where = f" on line {error.line}" if error.line else ""
    return f"The code failed{where}: {error.message}"


def _output_check(exercise: Exercise, result: RunResult, expected: str) -> Check:
    name = "resulting rows" if exercise.writes else "output"
    if result.error is not None:
        return _check(name, False, _run_failure(result))
    actual = _graded_output(exercise, result)
    if actual == expected:
        return _check(name, True, "Matches the reference.")
    what = "The rows your code leaves behind differ" if exercise.writes else "The output differs"
    return _check(name, False, f"{what}: {first_difference(expected, actual)}.")


def _hidden_check(exercise: Exercise, visible: Check, result: RunResult, expected: str) -> Check:
    """The same code on a dataset the learner never sees: it speaks of fixed text only after a right visible output."""
    name = "hidden dataset"
    if result.error is not None:
        return _check(name, False, f"On a second, larger dataset: {_run_failure(result)}")
    if not visible.passed:
        return Check(name, NOT_JUDGED, "Judged once the output is right on the visible dataset.")
    if _graded_output(exercise, result) == expected:
        return _check(name, True, "Right on a second dataset too.")
    return _check(
        name,
        False,
        "Right on the data you can see, wrong on another dataset: compute the answer from the "
        "database instead of printing fixed text or relying on particular ids.",
    )


def _query_checks(exercise: Exercise, seen: RunResult, unseen: RunResult) -> list[Check]:
    """Budget, flat, no N+1: a run that failed counts only for what it proves (queries already over)."""
    failed = next((r for r in (seen, unseen) if r.error is not None), None)
    unjudged = f"Not judged: {_run_failure(failed)}" if failed is not None else ""
    worst = max(seen.query_count, unseen.query_count)
    if worst > exercise.budget:
        sent = "already sent" if failed is not None else "runs"
        budget = _check(
            "query budget", False, f"Your code {sent} {worst} queries; the budget is {exercise.budget}."
        )
    elif failed is not None:
        budget = Check("query budget", NOT_JUDGED, unjudged)
    else:
        budget = _check(
            "query budget",
            True,
            f"{worst} quer{'y' if worst == 1 else 'ies'}, within the budget of {exercise.budget}.",
        )
    if failed is not None:
        flat = Check("flat", NOT_JUDGED, unjudged)
    elif unseen.query_count > seen.query_count:
        flat = _check(
            "flat",
            False,
            f"The query count grows with the data ({seen.query_count} → {unseen.query_count} on a larger "
            "dataset): something runs once per row.",
        )
    else:
        flat = _check("flat", True, "The query count stays flat as the data grows.")
    findings = seen.findings or unseen.findings
    if findings:
        n_plus_one = _check("no N+1", False, "; ".join(f.message for f in findings))
    elif failed is not None:
        n_plus_one = Check("no N+1", NOT_JUDGED, unjudged)
    else:
        n_plus_one = _check("no N+1", True, "No repeated per-row queries.")
    return [budget, flat, n_plus_one]


def _run(request: RunRequest) -> RunResult:
    """``runner.run`` from a thread of the grader's: it closes the database connections it opened."""
    try:
        return runner.run(request)
    finally:
        connections.close_all()


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
    explain = exercise.needs_plans
    # Both datasets at once: the hidden run (the larger one) starts first, in a thread of its
    # own (in this request's context, so its time is the request's), and the visible one
    # runs here meanwhile; each in its own confined child.
    with ThreadPoolExecutor(max_workers=1) as pool:
        hidden_run = pool.submit(
            contextvars.copy_context().run,
            _run,
            RunRequest(code, dataset=hidden, probe=exercise.probe, explain=explain),
        )
        seen = runner.run(RunRequest(code, dataset=visible, probe=exercise.probe, explain=explain))
        unseen = hidden_run.result()
    if seen.error is not None and seen.error.kind in {"busy", "internal"}:
        return Grade(False, [Check("run", NOT_JUDGED, seen.error.message)], seen)
    output = _output_check(exercise, seen, reference_output(exercise, visible))
    checks = [
        output,
        _hidden_check(exercise, output, unseen, reference_output(exercise, hidden)),
        *_query_checks(exercise, seen, unseen),
    ]
    checks += [_technique_check(technique, (seen, unseen)) for technique in exercise.techniques]
    return Grade(all(c.passed for c in checks), checks, seen)


def _technique_check(technique: Technique, results: tuple[RunResult, ...]) -> Check:
    """What the statements of both runs show about how the answer was fetched."""
    failed = next((r.error for r in results if r.error is not None), None)
    if failed is not None:
        return Check(technique.name, NOT_JUDGED, f"Not judged: the code failed ({failed.message}).")
    statements = [q for r in results for q in r.queries if not q.control]
    problem = _technique_problem(technique, statements)
    if problem is None:
        return _check(technique.name, True, _TECHNIQUE_PASSED[technique.kind])
    return _check(technique.name, False, f"{problem} {technique.message}")


_TECHNIQUE_PASSED = {
    "unselected": "Only the columns the output needs are selected.",
    "instances": "No model instances were built: the rows came as plain values.",
    "streamed": "The rows were streamed in chunks.",
    "plan": "The database's plan searches the index.",
}


def _technique_problem(technique: Technique, statements: list[Query]) -> str | None:
    if technique.kind == "unselected":
        wanted = set(technique.columns)
        for query in statements:
            found = sorted(analysis.selected_columns(query.sql) & wanted)
            if found:
                listed = ", ".join(f"`{column}`" for column in found)
                return f"A statement{f' from line {query.line}' if query.line else ''} selects {listed}."
        return None
    if technique.kind == "instances":
        built = next((q for q in statements if analysis.builds_instances(q.sql, technique.table)), None)
        if built is None:
            return None
        where = f" from line {built.line}" if built.line else ""
        return f"The {built.rows} row(s) of a statement{where} became model instances of `{technique.table}`."
    reading = [q for q in statements if analysis.reads(q.sql, technique.table)]
    if not reading:
        return f"No statement reads `{technique.table}`."
    if technique.kind == "streamed":
        whole = next((q for q in reading if not q.streamed), None)
        if whole is None:
            return None
        return f"The {whole.rows} rows of `{technique.table}` came to your code all at once."
    unplanned = next((q for q in reading if not analysis.searches_index(q.plan or "", technique.index)), None)
    if unplanned is None:
        return None
    plan = (unplanned.plan or "no plan").strip().replace("\n", " / ")
    return (
        f"The plan of a statement reading `{technique.table}` does not search `{technique.index}` ({plan})."
    )
